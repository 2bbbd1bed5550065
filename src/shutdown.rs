//! A shutdown signal shared by every thread: set once, waited on with timeouts.
//!
//! Threads sleep with [`Shutdown::wait_timeout`] instead of `thread::sleep`, so a stop request
//! wakes them at once. Tests create their own and trigger it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// A cloneable shutdown flag with wake-up.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Ask every holder to stop.
    pub fn trigger(&self) {
        let (lock, cv) = &*self.inner;
        *lock.lock() = true;
        cv.notify_all();
    }

    /// Whether shutdown was requested.
    pub fn is_triggered(&self) -> bool {
        *self.inner.0.lock()
    }

    /// Sleep up to `d`; returns `true` as soon as shutdown is requested.
    pub fn wait_timeout(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let (lock, cv) = &*self.inner;
        let mut stop = lock.lock();
        while !*stop {
            if cv.wait_until(&mut stop, deadline).timed_out() {
                break;
            }
        }
        *stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_returns_early_when_triggered_from_another_thread() {
        let s = Shutdown::new();
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            s2.trigger();
        });
        let start = Instant::now();
        assert!(s.wait_timeout(Duration::from_secs(10)));
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
        assert!(s.is_triggered());
    }

    #[test]
    fn wait_times_out_when_not_triggered() {
        let s = Shutdown::new();
        assert!(!s.wait_timeout(Duration::from_millis(10)));
    }
}
