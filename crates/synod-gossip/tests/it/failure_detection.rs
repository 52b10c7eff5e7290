//! SWIM on the seeded harness: a crashed member is declared dead by every
//! other member, even under 10 % message loss; live members are not (or
//! refute in time); a restarted member is taken back.

use crate::common::*;
use synod_core::NodeId;
use synod_gossip::MemberState;

fn everyone_sees(net: &Net, about: NodeId, state: MemberState) -> bool {
    net.ids()
        .into_iter()
        .filter(|&id| id != about && net.is_up(id))
        .all(|id| core(net, id).member(about).map(|m| m.state) == Some(state))
}

fn false_deaths(net: &Net) -> u64 {
    let ids = net.ids();
    ids.iter()
        .filter(|&&a| net.is_up(a))
        .flat_map(|&a| ids.iter().map(move |&b| (a, b)))
        .filter(|&(a, b)| a != b && net.is_up(b))
        .filter(|&(a, b)| core(net, a).member(b).unwrap().state == MemberState::Dead)
        .count() as u64
}

#[test]
fn without_loss_no_live_member_is_ever_suspected() {
    let mut net = cluster(8, 1);
    for _ in 0..300 {
        round(&mut net);
    }
    for id in net.ids() {
        let s = core(&net, id).detector_stats();
        assert_eq!((s.suspicions_raised, s.deaths_declared), (0, 0));
    }
}

#[test]
fn a_crashed_member_is_declared_dead_by_all_under_ten_percent_loss() {
    for seed in 0..3 {
        let mut net = cluster(8, seed);
        net.set_loss(0.10);
        for _ in 0..50 {
            round(&mut net);
        }
        net.crash(n(3));
        let mut took = None;
        for r in 0..400 {
            round(&mut net);
            if everyone_sees(&net, n(3), MemberState::Dead) {
                took = Some(r);
                break;
            }
        }
        let took = took.unwrap_or_else(|| panic!("seed {seed}: node 3 never declared dead"));
        // Detection needs a failed probe, then the suspicion timeout (16).
        assert!(took >= 16, "seed {seed}: declared dead after {took} rounds");
        net.heal();
        for _ in 0..100 {
            round(&mut net);
        }
        assert_eq!(
            false_deaths(&net),
            0,
            "seed {seed}: live members refuted in time"
        );
    }
}

#[test]
fn a_restarted_member_rejoins_with_a_higher_incarnation() {
    let mut net = cluster(5, 2);
    for _ in 0..10 {
        round(&mut net);
    }
    net.crash(n(2));
    for _ in 0..80 {
        round(&mut net);
    }
    assert!(everyone_sees(&net, n(2), MemberState::Dead));
    net.restart(n(2));
    for _ in 0..80 {
        round(&mut net);
    }
    assert!(everyone_sees(&net, n(2), MemberState::Alive));
    assert_eq!(core(&net, n(1)).member(n(2)).unwrap().incarnation, 1);
    assert_eq!(core(&net, n(2)).alive_members(), ids(5));
}
