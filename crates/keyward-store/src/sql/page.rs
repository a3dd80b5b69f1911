//! Keyset pagination shared by every list query: the `keyset_page!` macro (in the
//! parent module) fetches `limit + 1` rows after the cursor; [`paginate`] cuts the page.

use keyward_domain::{Cursor, Page, PageLimit};

use super::from_db_time;
use crate::StoreResult;

/// Cuts a page fetched with `limit + 1` rows and computes the next cursor.
pub(super) fn paginate<R, T>(
    mut rows: Vec<R>,
    limit: PageLimit,
    key: impl Fn(&R) -> (chrono::NaiveDateTime, i64),
    convert: impl FnMut(R) -> StoreResult<T>,
) -> StoreResult<Page<T>> {
    let limit = usize::from(limit.get());
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| {
            let (at, id) = key(r);
            Cursor {
                created_at: from_db_time(at),
                id,
            }
        })
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(convert)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Page { items, next_cursor })
}
