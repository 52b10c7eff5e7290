//! Three `synod-node --protocol paxos` processes on loopback: SIGKILL the
//! distinguished leader, a survivor wins phase 1 and keeps serving, and the
//! old leader catches up after its restart — through a snapshot, because the
//! survivors compacted their slots while it was down.

use synod_e2e::kill_leader::{leader_kill_and_catch_up, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paxos_survives_leader_kill_and_old_leader_catches_up() {
    leader_kill_and_catch_up(Scenario {
        protocol: "paxos",
        nodes: 3,
        extra_args: vec!["--snapshot-every".into(), "40".into()],
        never_leaders: vec![],
        expect_snapshot: true,
        forwards_writes: false,
    })
    .await;
}
