//! Three `synod-node --protocol raft` processes on loopback: SIGKILL the
//! leader, the others keep serving, and the old leader catches up — through
//! a snapshot, because the survivors compacted their logs while it was down.

use synod_e2e::kill_leader::{leader_kill_and_catch_up, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_survives_leader_kill_and_old_leader_catches_up_by_snapshot() {
    leader_kill_and_catch_up(Scenario {
        protocol: "raft",
        nodes: 3,
        extra_args: vec!["--snapshot-every".into(), "40".into()],
        never_leaders: vec![],
        expect_snapshot: true,
        forwards_writes: false,
    })
    .await;
}
