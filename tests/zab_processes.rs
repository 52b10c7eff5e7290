//! Three voting `synod-node --protocol zab` processes and one observer on
//! loopback: SIGKILL the leader, Fast Leader Election picks a new one among
//! the voters, and the old leader rejoins and is synchronised by the new
//! leader (DIFF, or SNAP once the survivors have compacted their logs);
//! then a write and a linearizable read sent to each follower and to the
//! observer are forwarded to the leader (REQUEST, `sync`) and answered by
//! the server they were sent to.

use synod_core::NodeId;
use synod_e2e::kill_leader::{leader_kill_and_catch_up, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zab_survives_leader_kill_and_old_leader_is_resynchronised() {
    leader_kill_and_catch_up(Scenario {
        protocol: "zab",
        nodes: 4,
        extra_args: vec![
            "--snapshot-every".into(),
            "40".into(),
            "--observer".into(),
            "4".into(),
        ],
        never_leaders: vec![NodeId(4)],
        expect_snapshot: false,
        forwards_writes: true,
    })
    .await;
}
