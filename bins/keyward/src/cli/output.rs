//! What the CLI prints: the API's JSON as-is (pretty) with `--output json`, or aligned
//! tables. Secrets appear only where the API returns them once (creation, rotation),
//! with a warning on stderr to store them.

use std::io::Write;

use clap::ValueEnum;
use serde_json::Value;

use super::client::CliError;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns (lists) or one `field  value` line per member (one object).
    Table,
    /// The API's JSON body, pretty-printed.
    Json,
}

/// One column of a list table: its heading and the member it shows (a `/`-separated
/// path into each item, e.g. `actor/name`).
pub type Column = (&'static str, &'static str);

/// Where the output goes, in which format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// The format.
    pub format: Format,
}

impl Printer {
    /// A list answer (`{"items": [...], "next_cursor"}`): a table of `columns`, with a
    /// note on stderr when there are more pages.
    pub fn list(&self, body: &Value, columns: &[Column]) -> Result<(), CliError> {
        if self.format == Format::Json {
            return write_json(body);
        }
        let items = body
            .get("items")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let headings: Vec<String> = columns.iter().map(|(h, _)| (*h).to_owned()).collect();
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|item| {
                columns
                    .iter()
                    .map(|(_, path)| cell(member(item, path)))
                    .collect()
            })
            .collect();
        write_out(&render_table(&headings, &rows))?;
        if let Some(next) = body.get("next_cursor").and_then(Value::as_str) {
            eprintln!("more results: add --cursor {next}, or --all for every page");
        }
        Ok(())
    }

    /// One object: `field  value` lines (arrays joined by `, `, objects as compact
    /// JSON), members in the API's order.
    pub fn object(&self, body: &Value) -> Result<(), CliError> {
        if self.format == Format::Json {
            return write_json(body);
        }
        let Some(map) = body.as_object() else {
            return write_out(&format!("{}\n", cell(Some(body))));
        };
        let rows: Vec<Vec<String>> = map
            .iter()
            .map(|(k, v)| vec![k.clone(), cell(Some(v))])
            .collect();
        write_out(&render_table(&[], &rows))
    }

    /// An object holding a secret shown once (`secret_member`): printed like
    /// [`Printer::object`], then a warning on stderr that it cannot be shown again.
    pub fn object_with_secret(&self, body: &Value, secret_member: &str) -> Result<(), CliError> {
        self.object(body)?;
        eprintln!(
            "Store the {} now: it is shown once, here, and cannot be shown again.",
            secret_member.replace('_', " ")
        );
        Ok(())
    }

    /// A change whose answer has no body (204): a line saying what was done (table) or
    /// nothing at all (json: there is no API JSON to print).
    pub fn done(&self, what: &str) -> Result<(), CliError> {
        match self.format {
            Format::Json => Ok(()),
            Format::Table => write_out(&format!("{what}\n")),
        }
    }
}

/// The member at a `/`-separated path.
fn member<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(item, |v, key| v.get(key))
}

/// A value as a table cell: `-` for null or missing, arrays joined by `, `.
fn cell(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(list)) if list.is_empty() => "-".to_owned(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    };
    // A cell is one line, whatever the data holds.
    text.replace(['\r', '\n', '\t'], " ")
}

/// Rows under headings (none for `field value` tables), columns padded to the widest
/// cell and separated by two spaces; no trailing spaces.
pub fn render_table(headings: &[String], rows: &[Vec<String>]) -> String {
    let columns = headings
        .len()
        .max(rows.iter().map(Vec::len).max().unwrap_or(0));
    let mut widths = vec![0usize; columns];
    for row in std::iter::once(headings).chain(rows.iter().map(Vec::as_slice)) {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let mut out = String::new();
    let lines = (!headings.is_empty())
        .then_some(headings)
        .into_iter()
        .chain(rows.iter().map(Vec::as_slice));
    for row in lines {
        let mut line = String::new();
        for (i, text) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(text);
            let width = widths.get(i).copied().unwrap_or(0);
            line.extend(std::iter::repeat_n(
                ' ',
                width.saturating_sub(text.chars().count()),
            ));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn write_json(body: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(body)
        .map_err(|e| CliError::failure(format!("writing JSON: {e}")))?;
    write_out(&format!("{text}\n"))
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message.
fn write_out(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::failure(format!(
            "writing to standard output: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns_and_show_missing_values_as_dashes() {
        let rows = vec![
            vec!["billing bot".to_owned(), "ACTIVE".to_owned()],
            vec!["x".to_owned(), "-".to_owned()],
        ];
        let text = render_table(&["NAME".to_owned(), "STATUS".to_owned()], &rows);
        assert_eq!(
            text,
            "NAME         STATUS\nbilling bot  ACTIVE\nx            -\n"
        );
    }

    #[test]
    fn cells_join_lists_and_read_nested_members() {
        let item = json!({"roles": ["a", "b"], "actor": {"name": "admin"}, "n": null});
        assert_eq!(cell(member(&item, "roles")), "a, b");
        assert_eq!(cell(member(&item, "actor/name")), "admin");
        assert_eq!(cell(member(&item, "n")), "-");
        assert_eq!(cell(member(&item, "missing/deeper")), "-");
    }
}
