//! The audit log: append (inside the change's transaction), list newest first, prune.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use keyward_domain::{EnvironmentSlug, Page, SortOrder};

use super::page::paginate;
use super::schema::audit_log;
use super::{from_db_time, keyset_page, map_err, to_db_time, DieselStore};
use crate::{
    AuditActorKind, AuditEntry, AuditQuery, AuditStore, NewAuditEntry, StoreError, StoreResult,
};

/// A row of `audit_log`.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    id: i64,
    at: NaiveDateTime,
    actor_kind: String,
    actor_name: String,
    address: Option<String>,
    action: String,
    environment: Option<String>,
    subject: String,
    details: String,
}

fn into_entry(row: AuditRow) -> StoreResult<AuditEntry> {
    let actor_kind = AuditActorKind::parse(&row.actor_kind)
        .ok_or_else(|| StoreError::Corrupt(format!("audit actor kind `{}`", row.actor_kind)))?;
    let environment = row
        .environment
        .map(|slug| {
            EnvironmentSlug::parse(&slug)
                .map_err(|e| StoreError::Corrupt(format!("audit environment: {e}")))
        })
        .transpose()?;
    Ok(AuditEntry {
        id: row.id,
        entry: NewAuditEntry {
            at: from_db_time(row.at),
            actor_kind,
            actor_name: row.actor_name,
            address: row.address,
            action: row.action,
            environment,
            subject: row.subject,
            details: row.details,
        },
    })
}

impl AuditStore for DieselStore {
    fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<()> {
        self.write(|conn| {
            diesel::insert_into(audit_log::table)
                .values((
                    audit_log::at.eq(to_db_time(entry.at)),
                    audit_log::actor_kind.eq(entry.actor_kind.as_str()),
                    audit_log::actor_name.eq(&entry.actor_name),
                    audit_log::address.eq(entry.address.as_deref()),
                    audit_log::action.eq(&entry.action),
                    audit_log::environment.eq(entry.environment.as_ref().map(|e| e.as_str())),
                    audit_log::subject.eq(&entry.subject),
                    audit_log::details.eq(&entry.details),
                ))
                .execute(conn)
                .map_err(map_err)?;
            Ok(())
        })
    }

    fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEntry>> {
        use audit_log::dsl as a;
        let mut q = a::audit_log.select(AuditRow::as_select()).into_boxed();
        if let Some(envs) = &query.environments {
            let slugs: Vec<&str> = envs.iter().map(EnvironmentSlug::as_str).collect();
            q = q.filter(a::environment.eq_any(slugs));
        }
        if let Some(actor) = &query.actor {
            q = q.filter(a::actor_name.eq(actor.as_str()));
        }
        if let Some(subject) = &query.subject {
            q = q.filter(a::subject.eq(subject.as_str()));
        }
        if let Some(since) = query.since {
            q = q.filter(a::at.ge(to_db_time(since)));
        }
        if let Some(until) = query.until {
            q = q.filter(a::at.lt(to_db_time(until)));
        }
        let order = SortOrder::Desc;
        let limit = query.limit;
        let cursor = query.cursor;
        let rows: Vec<AuditRow> =
            self.read(|conn| keyset_page!(q, a::at, a::id, order, limit, cursor).load(conn))?;
        paginate(rows, limit, |r| (r.at, r.id), into_entry)
    }

    fn prune_audit(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        self.write(|conn| {
            diesel::delete(audit_log::table.filter(audit_log::at.lt(to_db_time(before))))
                .execute(conn)
                .map_err(map_err)
        })
    }
}
