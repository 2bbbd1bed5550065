//! Any text as a configuration file: no panic; errors and warnings point at real lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rrdpipe::config::{parse, Defaults, Source};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let lines = text.lines().count();
    let result = parse(Source { name: "fuzz.conf".into(), text }, None, &Defaults { hostname: "fuzz".into(), plugins_dir: "/nonexistent".into() });
    let messages = match result {
        Ok(l) => l.warnings,
        Err(e) => e.errors.into_iter().chain(e.warnings).collect(),
    };
    for m in messages {
        if let Some(rest) = m.strip_prefix("fuzz.conf:") {
            let n: usize = rest.split(':').next().unwrap().parse().unwrap();
            assert!(n >= 1 && n <= lines.max(1), "{m}");
        }
    }
});
