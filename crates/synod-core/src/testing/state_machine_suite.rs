//! The `StateMachine` conformance suite.

use crate::state_machine::StateMachine;

/// Supplies state machines and commands for the suite.
pub trait StateMachineFixture {
    /// The state machine under test.
    type M: StateMachine;
    /// A fresh, empty state machine.
    fn fresh(&mut self) -> Self::M;
    /// A varied sequence of commands (the suite applies them in order).
    fn commands(&mut self) -> Vec<<Self::M as StateMachine>::Command>;
    /// Queries whose answers reveal the state.
    fn queries(&mut self) -> Vec<<Self::M as StateMachine>::Query>;
}

fn answers<M: StateMachine>(m: &M, queries: &[M::Query]) -> Vec<Vec<u8>> {
    queries
        .iter()
        .map(|q| crate::codec::encode(&m.query(q)).expect("query output encodes"))
        .collect()
}

/// Runs every state machine rule.
pub fn state_machine_suite<F: StateMachineFixture>(fixture: &mut F) {
    let queries = fixture.queries();

    // Determinism: two replicas applying the same commands agree on every
    // output and every answer.
    let mut a = fixture.fresh();
    let mut b = fixture.fresh();
    let commands = fixture.commands();
    let commands_again = fixture.commands();
    assert_eq!(
        commands.len(),
        commands_again.len(),
        "fixture commands are repeatable"
    );
    let half = commands.len() / 2;
    let mut snapshot_mid = None;
    for (i, (c1, c2)) in commands.into_iter().zip(commands_again).enumerate() {
        let index = i as u64 + 1;
        let o1 = crate::codec::encode(&a.apply(index, c1)).unwrap();
        let o2 = crate::codec::encode(&b.apply(index, c2)).unwrap();
        assert_eq!(o1, o2, "apply is deterministic (command {index})");
        assert_eq!(a.applied_index(), index, "applied_index follows apply");
        if i + 1 == half {
            snapshot_mid = Some((a.snapshot(), answers(&a, &queries), index));
        }
    }
    assert_eq!(
        answers(&a, &queries),
        answers(&b, &queries),
        "replicas agree on every query"
    );
    assert_eq!(
        a.snapshot(),
        b.snapshot(),
        "replicas produce identical snapshots"
    );

    // Snapshot and restore: a fresh machine restored from a snapshot answers
    // as the original did at that point, including the applied index.
    let mut c = fixture.fresh();
    c.restore(&a.snapshot()).expect("restore of own snapshot");
    assert_eq!(
        answers(&c, &queries),
        answers(&a, &queries),
        "restore reproduces the state"
    );
    assert_eq!(
        c.applied_index(),
        a.applied_index(),
        "restore reproduces the applied index"
    );
    if let Some((snap, expect, index)) = snapshot_mid {
        let mut d = fixture.fresh();
        d.restore(&snap).unwrap();
        assert_eq!(
            answers(&d, &queries),
            expect,
            "a mid-way snapshot restores the mid-way state"
        );
        assert_eq!(
            d.applied_index(),
            index,
            "a mid-way snapshot keeps its applied index"
        );
    }

    // skip() advances the index without changing the state.
    let before = answers(&a, &queries);
    let next = a.applied_index() + 1;
    a.skip(next);
    assert_eq!(a.applied_index(), next, "skip advances the applied index");
    assert_eq!(answers(&a, &queries), before, "skip leaves the state alone");

    // Restoring garbage is an error, not a panic, and leaves a usable machine.
    let mut e = fixture.fresh();
    for garbage in [&b""[..], &[0xFF; 3][..], &[0xFF; 64][..]] {
        let _ = e.restore(garbage);
    }
    let _ = answers(&e, &queries);
}
