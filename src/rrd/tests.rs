//! Store behaviour with a fake clock: slots, wrap-around, algorithms, gaps.

use std::sync::Arc;

use super::storage_number::{exists, is_reset, unpack};
use super::*;

const S: u64 = 1_000_000;

fn chart(ue: u32, history: usize, dims: &[(&str, Algorithm)]) -> Chart {
    let c = Chart::new(&ChartDef::new("test.chart", ue), history);
    for (id, algo) in dims {
        c.add_dimension(&DimensionDef::new(id, *algo));
    }
    c
}

fn at(c: &Chart, dim: usize, t: i64) -> Option<f64> {
    let d = c.read();
    let n = d.value_at(dim, t);
    exists(n).then(|| unpack(n))
}

#[test]
fn first_collection_only_primes() {
    let c = chart(1, 10, &[("a", Algorithm::Absolute)]);
    c.collect(&[(0, 5)], 100 * S).unwrap();
    let d = c.read();
    assert_eq!(d.last_entry_t(), None);
    assert_eq!(d.first_entry_t(), None);
    assert_eq!(d.dims[0].last_collected_value, 5);
    assert_eq!(d.dims[0].last_collected_ut, 100 * S);
}

#[test]
fn absolute_on_boundaries_stores_each_value_in_its_slot() {
    let c = chart(1, 10, &[("a", Algorithm::Absolute)]);
    for (i, t) in (100..106).enumerate() {
        c.collect(&[(0, i as i64 * 10)], t * S).unwrap();
    }
    assert_eq!(c.read().first_entry_t(), Some(101));
    assert_eq!(c.read().last_entry_t(), Some(105));
    for t in 101..=105 {
        assert_eq!(at(&c, 0, t), Some((t - 100) as f64 * 10.0), "slot {t}");
    }
    assert_eq!(at(&c, 0, 100), None);
    assert_eq!(at(&c, 0, 106), None);
}

#[test]
fn absolute_off_boundary_crossing_one_boundary_is_stored_as_collected() {
    let c = chart(1, 10, &[("a", Algorithm::Absolute)]);
    c.collect(&[(0, 7)], 100 * S + 300_000).unwrap();
    c.collect(&[(0, 9)], 101 * S + 300_000).unwrap();
    assert_eq!(at(&c, 0, 101), Some(9.0));
}

#[test]
fn absolute_across_several_boundaries_is_interpolated() {
    let c = chart(1, 10, &[("a", Algorithm::Absolute)]);
    c.collect(&[(0, 100)], 100 * S).unwrap();
    // A late collection: 4 s later, crossing 101..=104.
    c.collect(&[(0, 500)], 104 * S).unwrap();
    assert_eq!(at(&c, 0, 101), Some(200.0));
    assert_eq!(at(&c, 0, 102), Some(300.0));
    assert_eq!(at(&c, 0, 103), Some(400.0));
    assert_eq!(at(&c, 0, 104), Some(500.0));
}

#[test]
fn incremental_example_from_the_spec_carries_the_remainder() {
    // counter 1000 at 10.2 s, 1150 at 11.7 s → rate 100/s; slot 11 gets 100; 11.0–11.7 is carried.
    let c = chart(1, 10, &[("c", Algorithm::Incremental)]);
    c.collect(&[(0, 1000)], 10 * S + 200_000).unwrap();
    c.collect(&[(0, 1150)], 11 * S + 700_000).unwrap();
    assert_eq!(at(&c, 0, 11), Some(100.0));
    assert_eq!(c.read().last_entry_t(), Some(11));
    // The carried 70 counts of 11.0–11.7 plus 30 of 11.7–12.0 make slot 12 = 100/s.
    c.collect(&[(0, 1250)], 12 * S + 700_000).unwrap();
    assert_eq!(at(&c, 0, 12), Some(100.0));
    // A faster second, 300 counts over 12.7–13.7: slot 13 = 70 carried (12.0–12.7 at 100/s)
    // + 0.3 s × 300/s = 160.
    c.collect(&[(0, 1550)], 13 * S + 700_000).unwrap();
    let v = at(&c, 0, 13).unwrap();
    assert!((v - 160.0).abs() < 1e-4, "{v}");
}

#[test]
fn incremental_spread_over_several_boundaries_keeps_the_total() {
    let c = chart(1, 10, &[("c", Algorithm::Incremental)]);
    c.collect(&[(0, 0)], 100 * S).unwrap();
    c.collect(&[(0, 3000)], 103 * S).unwrap();
    for t in 101..=103 {
        assert_eq!(at(&c, 0, t), Some(1000.0), "slot {t}");
    }
}

#[test]
fn incremental_counter_reset_makes_no_spike() {
    let c = chart(1, 10, &[("c", Algorithm::Incremental)]);
    c.collect(&[(0, 1_000_000)], 100 * S).unwrap();
    c.collect(&[(0, 1_000_100)], 101 * S).unwrap();
    c.collect(&[(0, 50)], 102 * S).unwrap(); // went backwards: reset
    c.collect(&[(0, 150)], 103 * S).unwrap();
    assert_eq!(at(&c, 0, 101), Some(100.0));
    assert_eq!(at(&c, 0, 102), Some(0.0));
    assert!(is_reset(c.read().value_at(0, 102)));
    assert_eq!(at(&c, 0, 103), Some(100.0));
}

#[test]
fn multiplier_and_divisor_apply_after_the_algorithm() {
    let c = Chart::new(&ChartDef::new("net.eth0", 1), 10);
    c.add_dimension(&DimensionDef::new("received", Algorithm::Incremental).scaled(8, 1000));
    c.add_dimension(&DimensionDef::new("load", Algorithm::Absolute).scaled(1, 1000));
    c.collect(&[(0, 0), (1, 520)], 100 * S).unwrap();
    c.collect(&[(0, 125_000), (1, 1520)], 101 * S).unwrap();
    assert_eq!(at(&c, 0, 101), Some(1000.0)); // 125000 B/s × 8 / 1000 = 1000 kbit/s
    assert_eq!(at(&c, 1, 101), Some(1.52));
}

#[test]
fn percentage_of_absolute_row() {
    let c =
        chart(1, 10, &[("a", Algorithm::PercentageOfAbsoluteRow), ("b", Algorithm::PercentageOfAbsoluteRow)]);
    c.collect(&[(0, 1), (1, 3)], 100 * S).unwrap();
    c.collect(&[(0, 1), (1, 3)], 101 * S).unwrap();
    assert_eq!(at(&c, 0, 101), Some(25.0));
    assert_eq!(at(&c, 1, 101), Some(75.0));
}

#[test]
fn percentage_of_incremental_row() {
    let c = chart(
        1,
        10,
        &[("user", Algorithm::PercentageOfIncrementalRow), ("idle", Algorithm::PercentageOfIncrementalRow)],
    );
    c.collect(&[(0, 1000), (1, 5000)], 100 * S).unwrap();
    c.collect(&[(0, 1030), (1, 5070)], 101 * S).unwrap();
    assert_eq!(at(&c, 0, 101), Some(30.0));
    assert_eq!(at(&c, 1, 101), Some(70.0));
}

#[test]
fn ring_wraps_and_first_entry_is_the_oldest_kept_slot() {
    let c = chart(1, 5, &[("a", Algorithm::Absolute)]);
    for t in 100..=112 {
        c.collect(&[(0, t)], t as u64 * S).unwrap();
    }
    let d = c.read();
    assert_eq!(d.last_entry_t(), Some(112));
    assert_eq!(d.first_entry_t(), Some(108), "5 slots: 108..=112");
    for t in 108..=112 {
        assert_eq!(unpack(d.value_at(0, t)), t as f64);
    }
    assert!(!exists(d.value_at(0, 107)), "overwritten slot must not be readable");
    let mut seen = vec![];
    d.for_each_value(0, 100, 112, |t, v| seen.push((t, v)));
    assert_eq!(seen, (108..=112).map(|t| (t, t as f64)).collect::<Vec<_>>());
}

#[test]
fn time2slot_is_stable_across_wrap() {
    let c = chart(2, 4, &[("a", Algorithm::Absolute)]);
    let d = c.read();
    assert_eq!(d.time2slot(0), 0);
    assert_eq!(d.time2slot(2), 1);
    assert_eq!(d.time2slot(3), 1);
    assert_eq!(d.time2slot(8), 0);
    assert_eq!(d.time2slot(14), 3);
}

#[test]
fn update_every_two_aligns_slots_to_even_seconds() {
    let c = chart(2, 10, &[("a", Algorithm::Absolute)]);
    c.collect(&[(0, 1)], 101 * S).unwrap();
    c.collect(&[(0, 2)], 103 * S).unwrap();
    c.collect(&[(0, 3)], 105 * S).unwrap();
    let d = c.read();
    assert_eq!(d.last_entry_t(), Some(104));
    assert_eq!(unpack(d.value_at(0, 102)), 2.0);
    assert_eq!(unpack(d.value_at(0, 104)), 3.0);
}

#[test]
fn uncollected_dimension_leaves_an_empty_slot_not_zero() {
    let c = chart(1, 10, &[("a", Algorithm::Absolute), ("b", Algorithm::Absolute)]);
    c.collect(&[(0, 1), (1, 1)], 100 * S).unwrap();
    c.collect(&[(0, 2)], 101 * S).unwrap();
    c.collect(&[(0, 3), (1, 3)], 102 * S).unwrap();
    assert_eq!(at(&c, 0, 101), Some(2.0));
    assert_eq!(at(&c, 1, 101), None);
    assert_eq!(at(&c, 1, 102), Some(3.0));
}

#[test]
fn restart_leaves_the_time_away_empty() {
    let c = chart(1, 100, &[("a", Algorithm::Absolute)]);
    c.collect(&[(0, 1)], 100 * S).unwrap();
    c.collect(&[(0, 2)], 101 * S).unwrap();
    c.restart_collection();
    c.collect(&[(0, 50)], 110 * S).unwrap(); // primes; 102..=110 empty
    c.collect(&[(0, 60)], 111 * S).unwrap();
    let d = c.read();
    assert_eq!(unpack(d.value_at(0, 101)), 2.0);
    for t in 102..=110 {
        assert!(!exists(d.value_at(0, t)), "slot {t} must be empty");
    }
    assert_eq!(unpack(d.value_at(0, 111)), 60.0);
    assert_eq!(d.last_entry_t(), Some(111));
}

#[test]
fn a_late_collection_beyond_history_starts_over() {
    let c = chart(1, 5, &[("a", Algorithm::Absolute)]);
    c.collect(&[(0, 1)], 100 * S).unwrap();
    c.collect(&[(0, 2)], 101 * S).unwrap();
    c.collect(&[(0, 3)], 200 * S).unwrap(); // primes again
    assert_eq!(c.read().last_entry_t(), None);
    c.collect(&[(0, 4)], 201 * S).unwrap();
    assert_eq!(c.read().first_entry_t(), Some(201));
    assert_eq!(at(&c, 0, 201), Some(4.0));
}

#[test]
fn time_going_backwards_is_refused() {
    let c = chart(1, 5, &[("a", Algorithm::Absolute)]);
    c.collect(&[(0, 1)], 100 * S).unwrap();
    assert_eq!(c.collect(&[(0, 1)], 99 * S), Err(CollectError::TimeWentBackwards));
}

#[test]
fn dimension_added_later_grows_the_ring_and_keeps_old_values() {
    let c = chart(1, 10, &[("a", Algorithm::Absolute)]);
    c.collect(&[(0, 1)], 100 * S).unwrap();
    c.collect(&[(0, 2)], 101 * S).unwrap();
    let b = c.add_dimension(&DimensionDef::new("b", Algorithm::Absolute));
    c.collect(&[(0, 3), (b, 30)], 102 * S).unwrap();
    c.collect(&[(0, 4), (b, 40)], 103 * S).unwrap();
    assert_eq!(at(&c, 0, 101), Some(2.0));
    assert_eq!(at(&c, 1, 101), None);
    assert_eq!(at(&c, 1, 103), Some(40.0));
}

#[test]
fn chart_name_is_type_plus_sanitized_name() {
    let mut def = ChartDef::new("probe.x", 1);
    def.name = Some("my name".into());
    let c = Chart::new(&def, 5);
    assert_eq!(&*c.read().meta.name, "probe.my_name");
    let c = Chart::new(&ChartDef::new("probe.x", 1), 5);
    assert_eq!(&*c.read().meta.name, "probe.x");
    assert_eq!(&*c.read().meta.family, "probe");
    assert_eq!(&*c.read().meta.context, "probe.x");
}

#[test]
fn dimension_name_defaults_to_id() {
    let c = chart(1, 5, &[("a", Algorithm::Absolute)]);
    assert_eq!(c.read().names.name(0), "a");
}

/// Names live back to back in one string per chart: renames keep every other id and name,
/// an unchanged name writes nothing, and the text is compacted when old names pile up.
#[test]
fn dimension_names_survive_renames_and_compaction() {
    let c = Chart::new(&ChartDef::new("t.n", 1), 5);
    for i in 0..10 {
        c.add_dimension(&DimensionDef {
            name: Some(format!("name{i}")),
            ..DimensionDef::new(&format!("id{i}"), Algorithm::Absolute)
        });
    }
    let text_len = |c: &Chart| c.read().names.text_len();
    let before = text_len(&c);
    // Same name again, and the id as the name: nothing to store.
    c.add_dimension(&DimensionDef {
        name: Some("name3".into()),
        ..DimensionDef::new("id3", Algorithm::Absolute)
    });
    assert_eq!(text_len(&c), before);
    c.add_dimension(&DimensionDef {
        name: Some("id4".into()),
        ..DimensionDef::new("id4", Algorithm::Absolute)
    });
    assert_eq!(c.read().names.name(4), "id4");
    // A thousand renames of one dimension: the text stays bounded.
    for r in 0..1000 {
        c.add_dimension(&DimensionDef {
            name: Some(format!("renamed{r}")),
            ..DimensionDef::new("id7", Algorithm::Absolute)
        });
    }
    assert!(text_len(&c) < 2 * before + 300, "compacted: {} bytes", text_len(&c));
    let d = c.read();
    let got: Vec<(&str, &str)> = (0..d.names.len()).map(|i| (d.names.id(i), d.names.name(i))).collect();
    let mut want: Vec<(String, String)> = (0..10).map(|i| (format!("id{i}"), format!("name{i}"))).collect();
    want[4].1 = "id4".into();
    want[7].1 = "renamed999".into();
    assert_eq!(got, want.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>());
    assert_eq!(c.dimension_index("id9"), Some(9));
    assert_eq!(c.dimension_index("name9"), None);
}

/// Names of several bytes per character, renamed to another name and back to the id: each
/// reads back whole, and a name equal to the id stores nothing new.
#[test]
fn dimension_names_of_any_text_rename_back_to_their_id() {
    let c = Chart::new(&ChartDef::new("t.u", 1), 5);
    c.add_dimension(&DimensionDef::new("température", Algorithm::Absolute));
    c.add_dimension(&DimensionDef {
        name: Some("名前".into()),
        ..DimensionDef::new("b", Algorithm::Absolute)
    });
    let names = |c: &Chart| {
        let d = c.read();
        (0..d.names.len())
            .map(|i| (d.names.id(i).to_string(), d.names.name(i).to_string()))
            .collect::<Vec<_>>()
    };
    let pairs =
        |p: &[(&str, &str)]| p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(names(&c), pairs(&[("température", "température"), ("b", "名前")]));
    c.add_dimension(&DimensionDef {
        name: Some("°C".into()),
        ..DimensionDef::new("température", Algorithm::Absolute)
    });
    c.add_dimension(&DimensionDef { name: None, ..DimensionDef::new("b", Algorithm::Absolute) });
    assert_eq!(names(&c), pairs(&[("température", "°C"), ("b", "b")]));
    let len = c.read().names.text_len();
    c.add_dimension(&DimensionDef { name: Some("b".into()), ..DimensionDef::new("b", Algorithm::Absolute) });
    c.add_dimension(&DimensionDef {
        name: Some("température".into()),
        ..DimensionDef::new("température", Algorithm::Absolute)
    });
    assert_eq!(names(&c), pairs(&[("température", "température"), ("b", "b")]));
    assert_eq!(c.read().names.text_len(), len, "back to the id: nothing appended");
    assert!(!c.read().names.all_plain(), "an id outside ASCII is not plain");

    let c = Chart::new(&ChartDef::new("t.p", 1), 5);
    c.add_dimension(&DimensionDef::new("in-1.x_y", Algorithm::Absolute));
    assert!(c.read().names.all_plain());
    c.add_dimension(&DimensionDef {
        name: Some("in 1".into()),
        ..DimensionDef::new("in-1.x_y", Algorithm::Absolute)
    });
    assert!(!c.read().names.all_plain(), "a name with a space");
    c.add_dimension(&DimensionDef { name: None, ..DimensionDef::new("in-1.x_y", Algorithm::Absolute) });
    assert!(c.read().names.all_plain(), "renamed back to its id");
}

#[test]
fn readers_and_a_writer_run_concurrently() {
    use std::sync::Arc;
    let c = Arc::new(chart(1, 3600, &[("a", Algorithm::Absolute)]));
    let w = {
        let c = c.clone();
        std::thread::spawn(move || {
            for t in 0..2000u64 {
                c.collect(&[(0, t as i64)], (1000 + t) * S).unwrap();
            }
        })
    };
    let mut reads = 0;
    while !w.is_finished() {
        let d = c.read();
        if let Some(last) = d.last_entry_t() {
            // Every readable slot holds its own time's value.
            let n = d.value_at(0, last);
            assert_eq!(unpack(n), (last - 1000) as f64);
            reads += 1;
        }
    }
    w.join().unwrap();
    assert_eq!(c.read().last_entry_t(), Some(2999));
    let _ = reads;
}

#[test]
fn db_hosts_and_charts() {
    let db = Db::new(HostInfo { hostname: "me".into(), update_every: 1, ..Default::default() }, 60);
    let (c1, new1) = db.localhost().define_chart(&ChartDef::new("a.b", 1));
    let (c2, new2) = db.localhost().define_chart(&ChartDef::new("a.b", 1));
    assert!(new1 && !new2);
    assert!(std::sync::Arc::ptr_eq(&c1, &c2));
    let (child, new) = db.host_by_guid(HostInfo {
        hostname: "child".into(),
        machine_guid: "g1".into(),
        ..Default::default()
    });
    assert!(new);
    let (again, new) = db.host_by_guid(HostInfo {
        hostname: "child2".into(),
        machine_guid: "g1".into(),
        ..Default::default()
    });
    assert!(!new);
    assert!(std::sync::Arc::ptr_eq(&child, &again));
    assert_eq!(again.hostname(), "child2");
    assert_eq!(db.hosts().len(), 2);
    assert!(db.is_localhost(&db.localhost()));
    assert!(!db.is_localhost(&child));
}

/// Every stored bit of a long, irregular collection history: all algorithms, scaling, missing
/// values, counter resets, gaps longer than the history, restarts, a dimension added midway,
/// `update every` 1 and 3. Pins the store's exact output, so that a faster `collect` (or
/// `pack`) cannot change a single stored value unnoticed.
#[test]
fn collect_output_is_pinned_bit_for_bit() {
    fn run(ue: u32) -> (u64, usize) {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let c = Chart::new(&ChartDef::new("pin.chart", ue), 50);
        let algos = [
            (Algorithm::Absolute, 1, 1),
            (Algorithm::Absolute, -7, 3),
            (Algorithm::Incremental, 8, 1000),
            (Algorithm::Incremental, 1, 1),
            (Algorithm::PercentageOfAbsoluteRow, 1, 1),
            (Algorithm::PercentageOfAbsoluteRow, 1, 1),
            (Algorithm::PercentageOfIncrementalRow, 100, 7),
            (Algorithm::PercentageOfIncrementalRow, 1, 1),
        ];
        for (i, (a, m, d)) in algos.iter().enumerate() {
            c.add_dimension(&DimensionDef::new(&format!("d{i}"), *a).scaled(*m, *d));
        }
        let mut raw = [1_000i64, -50, 1 << 40, 7, 3, 9, 100, 0, 5];
        let mut now = 1_000_000 * S + 123_456;
        let (mut hash, mut stored) = (0xcbf2_9ce4_8422_2325u64, 0usize);
        for step in 0..600 {
            if step == 300 {
                c.add_dimension(&DimensionDef::new("late", Algorithm::Incremental).scaled(3, 2));
            }
            now += match next() % 50 {
                0 => 70 * ue as u64 * S,                           // longer than the history
                1 => 0,                                            // same time: refused
                2..=6 => next() % (4 * ue as u64 * S),             // several boundaries
                _ => ue as u64 * S / 2 + next() % (ue as u64 * S), // about one interval
            };
            if next() % 97 == 0 {
                c.restart_collection();
            }
            let dims = c.dimension_count();
            let mut values = Vec::new();
            for (i, r) in raw.iter_mut().enumerate().take(dims) {
                *r = match next() % 40 {
                    0 => *r / 3, // counter reset
                    1 => -*r,    // sign flip
                    _ => r.wrapping_add((next() % 100_000) as i64),
                };
                if next() % 7 != 0 {
                    values.push((i, *r));
                }
            }
            let _ = c.collect(&values, now);
            let d = c.read();
            if let (Some(first), Some(last)) = (d.first_entry_t(), d.last_entry_t()) {
                let mut t = first;
                while t <= last {
                    for dim in 0..dims {
                        for b in d.value_at(dim, t).to_le_bytes() {
                            hash = (hash ^ b as u64).wrapping_mul(0x0100_0000_01b3);
                        }
                        stored += 1;
                    }
                    t += ue as i64;
                }
            }
        }
        (hash, stored)
    }
    assert_eq!(run(1), (5761792440670519154, 192893));
    assert_eq!(run(3), (17166892705910123100, 191197));
}

#[test]
fn slots_wrap_like_rem_euclid_for_any_time() {
    for history in [2usize, 3, 7, 60, 3600, 86_400, 1 << 31, (1 << 32) - 1] {
        for ue in [1u32, 2, 7, 60] {
            let c = Chart::new(&ChartDef::new("wrap.t", ue), history);
            let d = c.read();
            let mut ts = vec![0i64, 1, -1, i64::MIN, i64::MAX, 1_700_000_000, (1 << 32) - 1, 1 << 32];
            ts.extend((0..2000).map(|i| 1_700_000_000 + i * 7919 - 1000));
            for t in ts {
                let want = t.div_euclid(ue as i64).rem_euclid(history as i64) as usize;
                assert_eq!(d.time2slot(t), want, "t {t}, ue {ue}, history {history}");
            }
        }
    }
}

fn child(guid: &str) -> HostInfo {
    HostInfo {
        hostname: format!("child-{guid}"),
        machine_guid: guid.to_string(),
        update_every: 1,
        ..Default::default()
    }
}

#[test]
fn an_orphan_host_is_removed_only_when_due_and_exported_by_every_exporter() {
    let db = Db::new(HostInfo { hostname: "parent".into(), ..Default::default() }, 60);
    let (a, e1) = (db.register_exporter(), db.register_exporter());
    let (host, new) = db.host_by_guid(child("g1"));
    assert!(new);
    let feeding = host.attach();
    assert_eq!(host.orphan(), None, "a connected host is no orphan");
    assert!(db.remove_orphans(i64::MAX, 0).is_empty());
    drop(feeding);
    let since = host.orphan_since().expect("an orphan since the connection ended");
    let orphan = host.orphan().unwrap();
    // Due by time, but no exporter has sent it all yet.
    assert!(db.remove_orphans(since + 10, 5).is_empty());
    host.mark_exported(a, orphan);
    host.mark_exported(a, orphan);
    assert!(db.remove_orphans(since + 10, 5).is_empty(), "the second exporter has not sent it");
    host.mark_exported(e1, orphan);
    // Exported by both, but not an orphan for long enough.
    assert!(db.remove_orphans(since + 4, 5).is_empty());
    assert_eq!(db.hosts().len(), 2);
    let removed = db.remove_orphans(since + 5, 5);
    assert_eq!(removed.len(), 1);
    assert!(Arc::ptr_eq(&removed[0], &host));
    assert_eq!(db.hosts().len(), 1, "the local host stays");
    // The machine comes back later: a new, empty host.
    assert!(db.host_by_guid(child("g1")).1);
}

#[test]
fn a_child_reconnecting_before_removal_finds_its_host_and_old_marks_no_longer_count() {
    let db = Db::new(HostInfo { hostname: "parent".into(), ..Default::default() }, 60);
    let exporter = db.register_exporter();
    let (host, _) = db.host_by_guid(child("g2"));
    host.define_chart(&ChartDef::new("test.kept", 1));
    drop(host.attach());
    let old = host.orphan().unwrap();
    // The child reconnects: its host and charts are found again, and it is no orphan, so it
    // cannot be removed between the lookup and the attachment.
    let (again, new) = db.host_by_guid(child("g2"));
    assert!(!new && Arc::ptr_eq(&again, &host));
    assert!(again.chart("test.kept").is_some());
    assert_eq!(again.orphan(), None);
    assert!(db.remove_orphans(i64::MAX, 0).is_empty());
    let feeding = again.attach();
    // A walk that read the previous orphan period marks nothing now, nor after the next end.
    again.mark_exported(exporter, old);
    drop(feeding);
    again.mark_exported(exporter, old);
    assert!(db.remove_orphans(i64::MAX, 0).is_empty(), "marked for an older orphan period");
    again.mark_exported(exporter, again.orphan().unwrap());
    assert_eq!(db.remove_orphans(i64::MAX, 0).len(), 1);
}

#[test]
fn an_unregistered_exporter_is_no_longer_waited_for() {
    let db = Db::new(HostInfo { hostname: "parent".into(), ..Default::default() }, 60);
    let stopped = db.register_exporter();
    let (host, _) = db.host_by_guid(child("g3"));
    drop(host.attach());
    assert!(db.remove_orphans(i64::MAX, 0).is_empty());
    db.unregister_exporter(stopped);
    assert_eq!(db.remove_orphans(i64::MAX, 0).len(), 1);
}

#[test]
fn the_local_host_is_never_removed() {
    let db = Db::new(HostInfo { hostname: "parent".into(), ..Default::default() }, 60);
    drop(db.localhost().attach());
    assert!(db.remove_orphans(i64::MAX, 0).is_empty());
    assert_eq!(db.hosts().len(), 1);
}

#[test]
fn a_host_s_feed_says_since_when_it_is_connected_or_gone() {
    let db = Db::new(HostInfo { hostname: "parent".into(), ..Default::default() }, 60);
    assert_eq!(db.localhost().feed(), Feed::Never);
    let (host, _) = db.host_by_guid(child("g4"));
    assert_eq!(host.feed(), Feed::Never);
    let first = host.attach();
    let Feed::Connected(since) = host.feed() else { panic!("{:?}", host.feed()) };
    // A second connection (a reconnect racing the old one's end) keeps the first's time.
    let second = host.attach();
    drop(first);
    assert_eq!(host.feed(), Feed::Connected(since));
    drop(second);
    let Feed::Gone(left) = host.feed() else { panic!("{:?}", host.feed()) };
    assert!(left >= since);
    assert_eq!(Some(left), host.orphan_since());
}

#[test]
fn a_chart_s_memory_grows_by_one_ring_block_at_a_time() {
    let c = chart(1, 600, &[("a", Algorithm::Absolute), ("b", Algorithm::Absolute)]);
    // Priming stores nothing; the first stored slot allocates its block of 64 rows.
    c.collect(&[(0, 1), (1, 2)], 1000 * S).unwrap();
    let empty = c.read().memory_bytes();
    assert!(empty < 1024, "no ring block yet: {empty} bytes");
    c.collect(&[(0, 1), (1, 2)], 1001 * S).unwrap();
    let one_block = c.read().memory_bytes() - empty;
    let cap = one_block / (64 * 4);
    assert!(cap >= 2 && one_block == 64 * cap * 4, "{one_block} bytes for one block");
    // More slots in the same block cost nothing more.
    for t in 1002..1010 {
        c.collect(&[(0, 1), (1, 2)], t * S).unwrap();
    }
    assert_eq!(c.read().memory_bytes(), empty + one_block);
}

/// Replayed slots fill the gap after the last stored slot, and empty slots inside the stored
/// range; slots holding values, older than the ring or between boundaries are refused.
#[test]
fn replayed_slots_fill_the_past_of_the_ring() {
    use super::storage_number::{pack, unpack, SN_EMPTY, SN_EXISTS};
    let c = Chart::new(&ChartDef::new("t.replay", 1), 10);
    c.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
    for t in 1000..=1003u64 {
        c.collect(&[(0, 7)], t * 1_000_000 + 500_000).unwrap();
    }
    let n = |v: f64| pack(v, SN_EXISTS);
    assert!(c.store_replayed(1007, &[(0, n(9.0))]));
    assert!(c.store_replayed(1005, &[(0, n(8.0))]), "an empty slot inside the stored range");
    assert!(!c.store_replayed(1005, &[(0, n(1.0))]), "a slot holding a value");
    assert!(!c.store_replayed(1001, &[(0, n(1.0))]), "a collected slot");
    assert!(!c.store_replayed(997, &[(0, n(1.0))]), "older than the ring keeps (10 slots to 1007)");
    let d = c.read();
    let row = |t| d.value_at(0, t);
    assert_eq!(unpack(row(1005)), 8.0);
    assert_eq!(unpack(row(1007)), 9.0);
    assert_eq!((row(1004), row(1006)), (SN_EMPTY, SN_EMPTY));
    assert_eq!((d.first_entry_t(), d.last_entry_t()), (Some(1001), Some(1007)), "1000 only primed");
    drop(d);
    // A slot between boundaries of a chart collected every 5 s is not one.
    let five = Chart::new(&ChartDef::new("t.five", 5), 10);
    five.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
    assert!(!five.store_replayed(1003, &[(0, n(1.0))]));
    assert!(five.store_replayed(1005, &[(0, n(1.0))]));
    assert_eq!((five.read().first_entry_t(), five.read().last_entry_t()), (Some(1005), Some(1005)));
}

/// After the replayed slots, the collection continues from the child's state: the next
/// collection stores the very next slot instead of only priming.
#[test]
fn collection_continues_from_a_restored_state_without_an_empty_slot() {
    use super::storage_number::{pack, unpack, SN_EXISTS};
    let c = Chart::new(&ChartDef::new("t.cont", 1), 100);
    c.add_dimension(&DimensionDef::new("up", Algorithm::Incremental));
    assert!(c.store_replayed(2000, &[(0, pack(10.0, SN_EXISTS))]));
    c.restore_collection(2_000_400_000, &[(0, 2_000_400_000, 500)]);
    // 10 more counts over the next second: a rate of 10/s in slot 2001.
    c.collect(&[(0, 510)], 2_001_400_000).unwrap();
    let d = c.read();
    assert_eq!(unpack(d.value_at(0, 2000)), 10.0);
    assert_eq!(unpack(d.value_at(0, 2001)), 10.0);
    assert_eq!(d.last_entry_t(), Some(2001));
}
