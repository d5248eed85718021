use super::*;
use std::net::SocketAddr;

fn mk(
    priority: u32,
    healthy: usize,
    degraded: usize,
    unhealthy: usize,
    base: usize,
) -> Vec<HostDesc> {
    let mut v = Vec::new();
    for i in 0..healthy + degraded + unhealthy {
        let a = SocketAddr::from((
            [10, 0, (base / 256) as u8, (base % 256) as u8],
            1000 + i as u16,
        ));
        let mut h = HostDesc::new(a).with_priority(priority);
        if i >= healthy {
            h.health = if i < healthy + degraded {
                crate::Health::Degraded
            } else {
                crate::Health::Unhealthy
            };
        }
        v.push(h);
    }
    v
}

/// (healthy, degraded, unhealthy) per priority -> state.
fn state(levels: &[(usize, usize, usize)], of: u32, threshold: u64) -> PriorityState {
    let mut all = Vec::new();
    for (p, &(h, d, u)) in levels.iter().enumerate() {
        all.extend(mk(p as u32, h, d, u, p));
    }
    let mut sets = Vec::new();
    for p in 0..levels.len() {
        let ids: Vec<HostId> = (0..all.len() as u32)
            .filter(|&i| all[i as usize].priority == p as u32)
            .collect();
        sets.push(group_priority(p as u32, &ids, &all, None, of, false));
    }
    compute_priority_state(&sets, &all, threshold)
}

#[test]
fn envoy_priority_table_p1_fully_healthy() {
    // docs: arch_overview/upstream/load_balancing/priority + panic_threshold, first table.
    for (p0_healthy, p0_load) in [(100, 100), (72, 100), (71, 99), (50, 70), (25, 35), (0, 0)] {
        let st = state(&[(p0_healthy, 0, 100 - p0_healthy), (100, 0, 0)], 140, 50);
        assert_eq!(
            st.healthy_load,
            vec![p0_load, 100 - p0_load],
            "P0 {p0_healthy}% healthy"
        );
        assert_eq!(st.panic, vec![false, false]);
        assert_eq!(st.normalized_total_availability, 100);
    }
}

#[test]
fn seed_threshold_p0_keeps_everything_above_71_4_percent() {
    // 1.4 x 71.5% = 100.1% -> still 100; 1.4 x 71.4% = 99.96% -> floor 99, 1% spills.
    let st = state(&[(715, 0, 285), (10, 0, 0)], 140, 50);
    assert_eq!(st.healthy_load, vec![100, 0]);
    let st = state(&[(714, 0, 286), (10, 0, 0)], 140, 50);
    assert_eq!(st.healthy_load, vec![99, 1]);
}

#[test]
fn envoy_panic_table_both_priorities_degrading() {
    let st = state(&[(72, 0, 28), (72, 0, 28)], 140, 50);
    assert_eq!(
        (st.healthy_load.clone(), st.panic.clone()),
        (vec![100, 0], vec![false, false])
    );
    let st = state(&[(71, 0, 29), (71, 0, 29)], 140, 50);
    assert_eq!(st.healthy_load, vec![99, 1]);
    // 25% / 25%: normalized total 70 -> both in panic -> load by host count.
    let st = state(&[(25, 0, 75), (25, 0, 75)], 140, 50);
    assert_eq!(st.normalized_total_availability, 70);
    assert_eq!(st.panic, vec![true, true]);
    assert!(st.total_panic);
    assert_eq!(st.healthy_load, vec![50, 50]);
    // 5% / 65%: total 98 -> P0 in panic, P1 not. The docs print 7/93; the code gives the rounding
    // remainder to the first healthy priority: 7 + 1 = 8 and 92.
    let st = state(&[(5, 0, 95), (65, 0, 35)], 140, 50);
    assert_eq!(st.normalized_total_availability, 98);
    assert_eq!(st.panic, vec![true, false]);
    assert_eq!(st.healthy_load, vec![8, 92]);
}

#[test]
fn panic_disabled_with_zero_threshold() {
    let st = state(&[(0, 0, 10), (0, 0, 10)], 140, 0);
    assert_eq!(st.panic, vec![false, false]);
    assert_eq!(st.healthy_load, vec![100, 0]);
}

#[test]
fn all_down_with_threshold_is_total_panic_by_host_count() {
    let st = state(&[(0, 0, 3), (0, 0, 1)], 140, 50);
    assert!(st.total_panic);
    assert_eq!(st.healthy_load, vec![75, 25]);
}

#[test]
fn degraded_hosts_take_only_what_healthy_cannot() {
    // Seed 4.10: 10 hosts, OF 1.2, 8 healthy + 2 degraded: 8 x 1.2 = 96% healthy, 4% to degraded.
    let st = state(&[(8, 2, 0)], 120, 50);
    assert_eq!(st.healthy_load, vec![96]);
    assert_eq!(st.degraded_load, vec![4]);
    // 9 healthy + 1 degraded: 108% -> healthy keeps everything.
    let st = state(&[(9, 1, 0)], 120, 50);
    assert_eq!(
        (st.healthy_load.clone(), st.degraded_load.clone()),
        (vec![100], vec![0])
    );
    // Degraded of P0 comes after the healthy of every priority.
    let st = state(&[(5, 5, 0), (10, 0, 0)], 140, 50);
    assert_eq!(
        (st.healthy_load.clone(), st.degraded_load.clone()),
        (vec![70, 30], vec![0, 0])
    );
    let st = state(&[(5, 5, 0), (1, 0, 9)], 140, 50);
    // health P0 70, P1 14, degraded P0 70 -> nta 100 -> healthy 70 + 14, degraded P0 16.
    assert_eq!(
        (st.healthy_load.clone(), st.degraded_load.clone()),
        (vec![70, 14], vec![16, 0])
    );
}

#[test]
fn scenario_12_priority_levels_of_150() {
    // P0 red, blue, green; P1 gray, black; OF 150.
    let st = state(&[(2, 0, 1), (2, 0, 0)], 150, 50);
    assert_eq!(st.healthy_load, vec![100, 0]);
    let st = state(&[(1, 0, 2), (2, 0, 0)], 150, 50);
    assert_eq!(st.healthy_load, vec![50, 50]);
    let st = state(&[(0, 0, 3), (2, 0, 0)], 150, 50);
    assert_eq!(st.healthy_load, vec![0, 100]);
}

#[test]
fn scenario_13_panic_threshold_49() {
    // Phase A: red, blue, gray, black down. P0 health 50, P1 0 -> total 50 < 100, P0 33% < 49 and
    // P1 0% < 49: both in panic, so Envoy's recalculateLoadInTotalPanic splits by host count 60/40.
    let st = state(&[(1, 0, 2), (0, 0, 2)], 150, 49);
    assert_eq!(st.panic, vec![true, true]);
    assert_eq!(st.healthy_load, vec![60, 40]);
    // Phase B: black recovers -> P1 health 75, total 100: no panic, 50/50 green/black.
    let st = state(&[(1, 0, 2), (1, 0, 1)], 150, 49);
    assert_eq!(st.panic, vec![false, false]);
    assert_eq!(st.healthy_load, vec![50, 50]);
}

#[test]
fn choose_priority_walks_healthy_then_degraded() {
    assert_eq!(
        choose_priority(0, &[70, 14], &[16, 0]),
        (0, Availability::Healthy)
    );
    assert_eq!(
        choose_priority(69, &[70, 14], &[16, 0]),
        (0, Availability::Healthy)
    );
    assert_eq!(
        choose_priority(70, &[70, 14], &[16, 0]),
        (1, Availability::Healthy)
    );
    assert_eq!(
        choose_priority(84, &[70, 14], &[16, 0]),
        (0, Availability::Degraded)
    );
    assert_eq!(
        choose_priority(199, &[70, 14], &[16, 0]),
        (0, Availability::Degraded)
    );
}

#[test]
fn local_locality_first_then_sorted() {
    let mut all = Vec::new();
    for (i, z) in ["b", "a", "c", "a"].iter().enumerate() {
        all.push(
            HostDesc::new(SocketAddr::from(([10, 0, 0, i as u8], 80)))
                .with_locality(Locality::zone("r", z), Some(1)),
        );
    }
    let local = Locality::zone("r", "c");
    let set = group_priority(0, &[0, 1, 2, 3], &all, Some(&local), 140, false);
    assert!(set.has_local_locality);
    let zones: Vec<&str> = set.localities.iter().map(|l| l.zone.as_str()).collect();
    assert_eq!(zones, vec!["c", "a", "b"]);
    assert_eq!(set.hosts_per_locality, vec![vec![2], vec![1, 3], vec![0]]);
}
