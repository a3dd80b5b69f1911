//! `AuditStore`: entries commit with the transaction they were appended in, and list
//! newest first with filters and keyset pages.

use chrono::{DateTime, Duration, Utc};
use keyward_domain::*;

use super::tests::{env, open};
use crate::*;

fn entry(at: DateTime<Utc>, actor: &str, env: Option<&str>, subject: &str) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor_kind: AuditActorKind::User,
        actor_name: actor.to_owned(),
        address: Some("10.0.0.1".to_owned()),
        action: "thing.changed".to_owned(),
        environment: env.map(|e| EnvironmentSlug::parse(e).unwrap()),
        subject: subject.to_owned(),
        details: r#"{"k":1}"#.to_owned(),
    }
}

fn all(store: &dyn AuditStore, query: AuditQuery) -> Vec<AuditEntry> {
    store.list_audit(&query).unwrap().items
}

#[test]
fn an_entry_commits_or_rolls_back_with_its_transaction() {
    let (_db, store) = open();
    let now = Utc::now();
    store
        .transaction(&mut || {
            env(&store, "kept");
            store.append_audit(&entry(now, "alice", Some("kept"), "kept"))
        })
        .unwrap();
    let failed = store.transaction(&mut || {
        store.create_environment(
            &NewEnvironment {
                slug: EnvironmentSlug::parse("gone").unwrap(),
                name: EnvironmentName::parse("gone").unwrap(),
            },
            now,
        )?;
        store.append_audit(&entry(now, "alice", Some("gone"), "gone"))?;
        Err(StoreError::NameTaken)
    });
    assert!(failed.is_err());
    let entries = all(&*store, AuditQuery::default());
    assert_eq!(entries.len(), 1);
    let got = &entries[0].entry;
    assert_eq!(got, &entry(got.at, "alice", Some("kept"), "kept"));
    assert_eq!(
        got.at.timestamp_micros(),
        now.timestamp_micros(),
        "microseconds kept"
    );
    assert!(store
        .environment_by_slug(&EnvironmentSlug::parse("gone").unwrap())
        .unwrap()
        .is_none());
}

#[test]
fn entries_list_newest_first_filtered_and_paged() {
    let (_db, store) = open();
    let t0 = Utc::now() - Duration::hours(1);
    for i in 0..6 {
        let env = if i % 2 == 0 { Some("a") } else { Some("b") };
        let actor = if i < 3 { "alice" } else { "bob" };
        store
            .append_audit(&entry(
                t0 + Duration::minutes(i),
                actor,
                env,
                &format!("s{i}"),
            ))
            .unwrap();
    }
    store
        .append_audit(&entry(t0 + Duration::minutes(10), "root", None, "global"))
        .unwrap();
    let subjects = |q: AuditQuery| -> Vec<String> {
        all(&*store, q)
            .into_iter()
            .map(|e| e.entry.subject)
            .collect()
    };
    assert_eq!(
        subjects(AuditQuery::default()),
        ["global", "s5", "s4", "s3", "s2", "s1", "s0"]
    );
    let only_a = AuditQuery {
        environments: Some(vec![EnvironmentSlug::parse("a").unwrap()]),
        ..AuditQuery::default()
    };
    assert_eq!(subjects(only_a), ["s4", "s2", "s0"]);
    let bob = AuditQuery {
        actor: Some("bob".into()),
        ..AuditQuery::default()
    };
    assert_eq!(subjects(bob), ["s5", "s4", "s3"]);
    let one = AuditQuery {
        subject: Some("s1".into()),
        ..AuditQuery::default()
    };
    assert_eq!(subjects(one), ["s1"]);
    let window = AuditQuery {
        since: Some(t0 + Duration::minutes(1)),
        until: Some(t0 + Duration::minutes(3)),
        ..AuditQuery::default()
    };
    assert_eq!(
        subjects(window),
        ["s2", "s1"],
        "since inclusive, until exclusive"
    );
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_audit(&AuditQuery {
                limit: PageLimit::parse("3").unwrap(),
                cursor,
                ..AuditQuery::default()
            })
            .unwrap();
        seen.extend(page.items.into_iter().map(|e| e.entry.subject));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["global", "s5", "s4", "s3", "s2", "s1", "s0"]);
    assert_eq!(store.prune_audit(t0 + Duration::minutes(2)).unwrap(), 2);
    assert_eq!(all(&*store, AuditQuery::default()).len(), 5);
}
