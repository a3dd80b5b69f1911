//! The change feed: appending a row inside a writing transaction, reading back the rows
//! that are safe to pass, in order, and pruning old rows.
//!
//! # What a reader may rely on
//!
//! [`changes_since`] returns rows in sequence order and never returns a row while a
//! row with a smaller sequence number may still appear. Sequence numbers may have
//! holes (a rolled-back transaction's, on PostgreSQL): a hole is never a sign of lost
//! data. Data that *was* lost to pruning is said explicitly: a reader positioned below
//! `change_feed.pruned_through` first gets an [`ChangeSubject::Unknown`] change.
//!
//! # Why numbers are in commit order on both backends
//!
//! SQLite has one writer at a time: `AUTOINCREMENT` numbers are taken in commit order.
//!
//! On PostgreSQL a sequence would hand out numbers at insert time, and transactions
//! commit in any order: a reader that passed number 11 could later see 10 commit and
//! skip it for good. So rows are inserted without a number and a deferred trigger
//! numbers them as their transaction commits, from a one-row counter whose row lock is
//! the last lock the transaction takes and is held only through its commit
//! (`migrations/postgres`). PostgreSQL makes a committing transaction visible before it
//! releases its locks, so when the next transaction gets the counter every smaller
//! number is already visible: numbers are dense and in commit order, a reader may pass
//! every row it sees, and the visibility horizon is simply "what is committed". The
//! same trigger sends `NOTIFY keyward_changes`, delivered at commit. The price is that
//! commits of change-appending transactions are serialised through the counter (one
//! commit at a time, for the duration of the commit itself); docs/DECISIONS.md records
//! why a horizon on transaction ids (`pg_snapshot_xmin`) was not used instead.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::models::{decode_subject, encode_subject};
use super::schema::{change_feed, changes};
use super::{from_db_time, map_err, to_db_time, Db, DieselStore};
use crate::{Change, ChangeFeed, ChangeSubject, StoreResult};

/// Appends a change-feed entry inside the caller's transaction. On PostgreSQL the row
/// gets its number (and the `NOTIFY`) when the transaction commits (see the module doc).
pub(super) fn record_change(
    conn: &mut Db,
    subject: &ChangeSubject,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let (kind, value) = encode_subject(subject);
    diesel::insert_into(changes::table)
        .values((
            changes::subject_kind.eq(kind),
            changes::subject.eq(value),
            changes::at.eq(to_db_time(now)),
        ))
        .execute(conn)
        .map_err(map_err)?;
    Ok(())
}

struct ChangeRow {
    seq: i64,
    subject_kind: String,
    subject: String,
    at: NaiveDateTime,
}

/// Rows after `after`, oldest first (every committed row has its number: see the module
/// doc).
fn committed_rows(conn: &mut Db, after: i64, limit: i64) -> StoreResult<Vec<ChangeRow>> {
    let rows: Vec<(i64, String, String, NaiveDateTime)> = changes::table
        .filter(changes::seq.gt(after))
        .order(changes::seq.asc())
        .limit(limit)
        .select((
            changes::seq,
            changes::subject_kind,
            changes::subject,
            changes::at,
        ))
        .load(conn)
        .map_err(map_err)?;
    Ok(rows
        .into_iter()
        .map(|(seq, subject_kind, subject, at)| ChangeRow {
            seq,
            subject_kind,
            subject,
            at,
        })
        .collect())
}

/// How far the feed has been pruned (0 when never).
fn pruned_through(conn: &mut Db) -> StoreResult<i64> {
    change_feed::table
        .select(change_feed::pruned_through)
        .first::<i64>(conn)
        .optional()
        .map(|p| p.unwrap_or(0))
        .map_err(map_err)
}

/// Changes after `after`, oldest first, at most `limit` (one more
/// when the first is the `Unknown` that says rows after `after` were pruned)
/// ([`LiveSource::changes_since`](crate::LiveSource::changes_since)).
pub(super) fn changes_since(conn: &mut Db, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
    // Rows first, then the pruning mark: a prune that commits in between at worst
    // makes the reader start over needlessly; it never hides a pruned row.
    let rows = committed_rows(conn, after, limit)?;
    let pruned = pruned_through(conn)?;
    let mut changes = Vec::with_capacity(rows.len() + 1);
    if after < pruned {
        changes.push(Change {
            seq: pruned,
            subject: ChangeSubject::Unknown,
            at: rows
                .first()
                .map_or(DateTime::<Utc>::MIN_UTC, |r| from_db_time(r.at)),
        });
    }
    changes.extend(rows.into_iter().filter(|r| r.seq > pruned).map(|r| Change {
        seq: r.seq,
        subject: decode_subject(&r.subject_kind, &r.subject),
        at: from_db_time(r.at),
    }));
    Ok(changes)
}

/// The newest change's sequence number, 0 when none
/// ([`LiveSource::latest_change`](crate::LiveSource::latest_change)).
pub(super) fn latest_change(conn: &mut Db) -> StoreResult<i64> {
    changes::table
        .select(diesel::dsl::max(changes::seq))
        .first::<Option<i64>>(conn)
        .map(|m| m.unwrap_or(0))
        .map_err(map_err)
}

/// Whether the database can be read: the newest change, if any. (On SQLite `SELECT 1`
/// would not touch the file; reading a table does.)
pub(super) fn touch(conn: &mut Db) -> StoreResult<()> {
    latest_change(conn).map(|_| ())
}

impl ChangeFeed for DieselStore {
    /// Deletes every row up to the newest one older than `before`, always keeping the
    /// newest row (so the sequence never restarts below a reader's position), and
    /// raises `pruned_through` to match, in one transaction.
    fn prune_changes(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        // No change row: pruning changes nothing a reader could cache.
        self.write(|conn| {
            let newest = latest_change(conn)?;
            let cutoff: Option<i64> = changes::table
                .filter(changes::at.lt(to_db_time(before)))
                .filter(changes::seq.lt(newest))
                .select(diesel::dsl::max(changes::seq))
                .first(conn)
                .map_err(map_err)?;
            let Some(cutoff) = cutoff else {
                return Ok(0);
            };
            let deleted = diesel::delete(changes::table.filter(changes::seq.le(cutoff)))
                .execute(conn)
                .map_err(map_err)?;
            diesel::update(change_feed::table.filter(change_feed::pruned_through.lt(cutoff)))
                .set(change_feed::pruned_through.eq(cutoff))
                .execute(conn)
                .map_err(map_err)?;
            Ok(deleted)
        })
    }
}
