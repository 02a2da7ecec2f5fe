//! docs/posture.md documents every family the collectors emit, on this
//! host and on a fixture tree that makes every family appear, and names
//! nothing else.

use std::collections::BTreeSet;
use vigil_posture::{collect_all, Host};

mod fixture;
use fixture::full_fixture;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/posture.md");

/// Every `security_posture_…` name written in backticks.
fn documented() -> BTreeSet<String> {
    let text = std::fs::read_to_string(DOC).expect("read docs/posture.md");
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("security_posture_") && !s.ends_with('_'))
        .filter(|s| {
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn docs_cover_every_family() {
    let docs = documented();
    assert!(docs.len() > 40, "too few names found in {DOC}: {docs:?}");

    let fixture = tempfile::tempdir().expect("tempdir");
    full_fixture(fixture.path());
    let on_fixture: BTreeSet<String> = collect_all(&Host {
        root: fixture.path().to_path_buf(),
    })
    .into_iter()
    .map(|f| f.name)
    .collect();
    let on_host: BTreeSet<String> = collect_all(&Host { root: "/".into() })
        .into_iter()
        .map(|f| f.name)
        .collect();

    let undocumented: Vec<&String> = on_fixture
        .union(&on_host)
        .filter(|n| !docs.contains(*n))
        .collect();
    assert!(
        undocumented.is_empty(),
        "emitted but not in docs/posture.md: {undocumented:?}"
    );

    // The fixture makes every family appear, so a documented name it does
    // not emit is stale.
    let stale: Vec<&String> = docs.iter().filter(|n| !on_fixture.contains(*n)).collect();
    assert!(stale.is_empty(), "documented but never emitted: {stale:?}");
}
