//! The compressed ring does not fragment the heap: wrap after wrap, a store whose contents
//! repeat holds the same bytes and the allocator the same memory. One test per binary, so
//! nothing else allocates in this process meanwhile.

use rrdpipe::rrd::{storage_number, Algorithm, Chart, ChartDef, DimensionDef};

const HISTORY: i64 = 300;
const DIMS: usize = 100;
const S: u64 = 1_000_000;

/// The raw value of dimension `d` at time `t`: constant, a ramp, noise, or collected one
/// second in seven, by dimension; the same in every wrap of the ring.
fn value(d: usize, t: i64) -> Option<i64> {
    let s = t % HISTORY;
    match d % 4 {
        0 => Some(d as i64),
        1 => Some(s * d as i64),
        2 => Some(((s as u64 * 0x9e37_79b9 + d as u64 * 0x85eb_ca6b) % 1_000_003) as i64),
        _ => (s % 7 == 0).then_some(s),
    }
}

/// The heap's size as the allocator has it: bytes obtained from the system for its arenas,
/// less the free chunk at their top (given back or kept as the allocator's trimming goes),
/// plus separate mappings. Fragmentation would show as growth of this.
fn heap_bytes() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    info.arena - info.keepcost + info.hblkhd
}

#[test]
fn a_hundred_wraps_of_the_ring_leave_the_heap_flat() {
    let charts: Vec<Chart> = (0..20)
        .map(|c| {
            let chart = Chart::new(&ChartDef::new(&format!("heap.c{c}"), 1), HISTORY as usize);
            for d in 0..DIMS {
                chart.add_dimension(&DimensionDef::new(&format!("d{d}"), Algorithm::Absolute));
            }
            chart
        })
        .collect();
    let mut values = Vec::with_capacity(DIMS);
    let mut at_wrap = |wraps: i64| {
        for t in (wraps - 1) * HISTORY..wraps * HISTORY {
            for chart in &charts {
                values.clear();
                values.extend((0..DIMS).filter_map(|d| value(d, t).map(|v| (d, v))));
                chart.collect(&values, (1_000_000 + t) as u64 * S).unwrap();
            }
        }
        let store: usize = charts.iter().map(|c| c.read().memory_bytes()).sum();
        (store, heap_bytes())
    };
    for wraps in 1..10 {
        at_wrap(wraps);
    }
    // The allocator's free chunks move from wrap to wrap (±4 % here); fragmentation would
    // make the largest heap grow.
    let (store10, early) = (10..20).map(&mut at_wrap).fold((0, 0), |(_, h), (s, x)| (s, h.max(x)));
    (20..90).for_each(|w| {
        at_wrap(w);
    });
    let (store100, late) = (90..=100).map(&mut at_wrap).fold((0, 0), |(_, h), (s, x)| (s, h.max(x)));
    assert_eq!(store100, store10, "the store's own bytes");
    assert!(late <= early + early / 20, "largest heap {early} bytes in wraps 10-19, {late} in wraps 90-100");
    // Read back: the last wrap's values, as collected.
    let d = charts[7].read();
    let last = d.last_entry_t().unwrap();
    for dim in 0..DIMS {
        let n = d.value_at(dim, last - 150);
        let got = storage_number::exists(n).then(|| storage_number::unpack(n));
        assert_eq!(got, value(dim, last - 150 - 1_000_000).map(|v| v as f64), "dim {dim}");
    }
}
