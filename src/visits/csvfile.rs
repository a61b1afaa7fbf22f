//! Reading a visits CSV file (columns in docs/visits-csv.md) into the
//! import pipeline, one record at a time: the file is never held as rows.

use super::import::{check, ImportReport, Importer, Item, Options};

/// Rows handed from the reading thread to the writer at a time.
const BATCH: usize = 2000;
use super::{RawVisit, COLUMNS, REQUIRED_COLUMNS};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, FieldError};

/// Comma, semicolon (what spreadsheets write in Swedish and Norwegian) or
/// tab: whichever the header line has most of.
fn delimiter(head: &[u8]) -> u8 {
    let line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let count = |d: u8| line.iter().filter(|b| **b == d).count();
    [b',', b';', b'\t'].into_iter().max_by_key(|d| count(*d)).unwrap_or(b',')
}

/// Unknown header columns named one by one; the rest are counted, so a
/// file that is not CSV at all gets an answer of reasonable size.
const MAX_UNKNOWN_ECHOED: usize = 20;

/// Maps each CSV column to its index in `COLUMNS`; a missing required or an
/// unknown column refuses the file before any row is read.
fn header_map(header: &csv::ByteRecord) -> ApiResult<Vec<usize>> {
    let mut map = Vec::with_capacity(header.len());
    let mut errors = Vec::new();
    let mut unknown = 0;
    for (i, h) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_lowercase();
        // The name is echoed in the answer: a binary file's first "line" can
        // be megabytes of anything.
        let echo = || super::printable(&name, 100);
        match COLUMNS.iter().position(|c| *c == name) {
            Some(p) if map.contains(&p) => errors.push(FieldError {
                field: "file".into(),
                code: "duplicate_column".into(),
                reason: format!("column {} appears twice in the header", echo()),
            }),
            Some(p) => map.push(p),
            None if unknown < MAX_UNKNOWN_ECHOED => {
                unknown += 1;
                errors.push(FieldError {
                    field: "file".into(),
                    code: "unknown_column".into(),
                    reason: format!("column {} of the header, '{}', is not one of: {}", i + 1, echo(), COLUMNS.join(", ")),
                })
            }
            None => unknown += 1,
        }
    }
    if unknown > MAX_UNKNOWN_ECHOED {
        errors.push(FieldError {
            field: "file".into(),
            code: "unknown_column".into(),
            reason: format!("{} more columns of the header are not known", unknown - MAX_UNKNOWN_ECHOED),
        });
    }
    for r in REQUIRED_COLUMNS {
        let p = COLUMNS.iter().position(|c| *c == r).unwrap_or(usize::MAX);
        if !map.contains(&p) {
            errors.push(FieldError {
                field: "file".into(),
                code: "missing_column".into(),
                reason: format!("the header has no column {r}"),
            });
        }
    }
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// Remembers where every line of the input ends, as the bytes stream past,
/// so a record's line number can be told exactly: the csv crate's own
/// positions count a skipped blank line and `\r\n` endings differently.
struct Lines<R> {
    inner: R,
    offset: u64,
    /// Byte offset of each `\n`, and whether the line it ends is blank.
    ends: Vec<u64>,
    blank: Vec<bool>,
    line_len: u64,
    last: u8,
}

impl<R: std::io::Read> std::io::Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, b) in buf[..n].iter().enumerate() {
            if *b == b'\n' {
                self.ends.push(self.offset + i as u64);
                self.blank.push(self.line_len == 0 || (self.line_len == 1 && self.last == b'\r'));
                self.line_len = 0;
            } else {
                self.line_len += 1;
            }
            self.last = *b;
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// The 1-based line of the first non-blank line at or after `byte`.
fn line_at(ends: &[u64], blank: &[bool], byte: u64) -> u64 {
    // A record may start on the `\n` that ends the line before it (after a
    // `\r` terminator, or a skipped blank line): that line is behind it.
    let mut line = ends.partition_point(|e| *e <= byte);
    while blank.get(line).copied().unwrap_or(false) {
        line += 1;
    }
    line as u64 + 1
}

/// The last line of a record that starts on `line` and ends before byte
/// `end` (the reader's position after it), when that is a later line. The
/// usual record ends with its own first line, which one look at where that
/// line ends tells; only a record that spans lines needs the search.
fn later_last_line(ends: &[u64], line: u64, end: u64) -> Option<u64> {
    let last_byte = end.saturating_sub(1);
    let first_ends_before = ends.get(line.saturating_sub(1) as usize).is_some_and(|e| *e < last_byte);
    first_ends_before.then(|| ends.partition_point(|e| *e < last_byte) as u64 + 1)
}

/// Imports a CSV file from any reader. A file whose header is wrong is
/// refused as a whole (422) and nothing is recorded.
pub async fn import<R: std::io::Read + Send + 'static>(state: &AppState, opts: Options, mut input: R) -> ApiResult<ImportReport> {
    // Peek at the start to choose the delimiter, then read it all through csv.
    let mut head = vec![0u8; 8192];
    let mut filled = 0;
    while filled < head.len() {
        let n = input.read(&mut head[filled..]).map_err(anyhow::Error::from)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    let delim = delimiter(&head);
    let chained = std::io::Read::chain(std::io::Cursor::new(head), input);
    let lines = Lines { inner: chained, offset: 0, ends: Vec::new(), blank: Vec::new(), line_len: 0, last: 0 };
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delim).has_headers(false).flexible(true).buffer_capacity(1 << 20).from_reader(lines);
    let mut record = csv::ByteRecord::new();
    let header_ok = reader.read_byte_record(&mut record).map_err(|e| ApiError::field("file", "unreadable_csv", e.to_string()))?;
    if !header_ok || record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
        return Err(ApiError::field("file", "empty_file", "the file is empty: the first line must be the header"));
    }
    let map = header_map(&record)?;
    let mut imp = Importer::begin(state, opts).await?;
    // Reading and validating run on their own thread, writing here: on two
    // cores the database works while the next rows are checked.
    let (mut lt, refs) = imp.checker();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(4);
    let producer = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let at = reader.position().byte();
            let result = reader.read_byte_record(&mut record);
            let (line, later_last) = {
                let l = reader.get_ref();
                let line = line_at(&l.ends, &l.blank, record.position().map_or(at, |p| p.byte()));
                (line, later_last_line(&l.ends, line, reader.position().byte()))
            };
            let item = match result {
                Ok(false) => break,
                Ok(true) => {
                    if record.len() == 1 && record.get(0).is_some_and(|f| f.iter().all(u8::is_ascii_whitespace)) {
                        continue; // a blank line
                    }
                    if let Some(last) = later_last {
                        // A field that opens with a quote runs to the next
                        // quote, over line breaks. No field of a visit holds
                        // a line break, so this is a stray quote, and the
                        // lines it took in must be named, not lost.
                        Item::Line {
                            line,
                            code: "quote_spans_lines",
                            reason: format!(
                                "lines {line}–{last} were read as one row: a field that starts with a quote (\") goes on \
                                 over the line break to the next quote or the end of the file. No field of a visit holds \
                                 a line break; check the quotes. The lines after line {line} were not read as rows of their own"
                            ),
                        }
                    } else if record.len() != map.len() {
                        Item::Line {
                            line,
                            code: "wrong_field_count",
                            reason: format!("the row has {} fields, the header {}", record.len(), map.len()),
                        }
                    } else {
                        let mut raw = RawVisit::default();
                        let mut bad_utf8 = false;
                        for (i, field) in record.iter().enumerate() {
                            match std::str::from_utf8(field) {
                                Ok(s) => raw.set(map[i], s),
                                Err(_) => bad_utf8 = true,
                            }
                        }
                        if bad_utf8 {
                            Item::Line {
                                line,
                                code: "invalid_encoding",
                                reason: "the row is not valid UTF-8; save the file as UTF-8".into(),
                            }
                        } else {
                            check(&mut lt, &refs, line, &raw)
                        }
                    }
                }
                Err(e) => Item::Line { line, code: "unreadable_row", reason: e.to_string() },
            };
            batch.push(item);
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.blocking_send(full).is_err() {
                    return; // the importer stopped (an error): stop reading
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
    });
    while let Some(batch) = rx.recv().await {
        for item in batch {
            imp.accept(item);
        }
        if imp.needs_flush() {
            imp.flush().await?;
        }
    }
    producer.await.map_err(anyhow::Error::from)?;
    imp.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (first, last) line of every record of `input`, as the import
    /// numbers them.
    fn record_lines(input: &str) -> Vec<(u64, u64)> {
        let lines = Lines { inner: input.as_bytes(), offset: 0, ends: Vec::new(), blank: Vec::new(), line_len: 0, last: 0 };
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(lines);
        let mut rec = csv::ByteRecord::new();
        let mut got = vec![];
        while r.read_byte_record(&mut rec).unwrap() {
            let l = r.get_ref();
            let first = line_at(&l.ends, &l.blank, rec.position().unwrap().byte());
            got.push((first, later_last_line(&l.ends, first, r.position().byte()).unwrap_or(first)));
        }
        got
    }

    #[test]
    fn line_numbers_survive_blank_lines_crlf_and_quoted_newlines() {
        for (input, want) in [("h\na\n\nb\n\"c\nd\"\ne", vec![1, 2, 4, 5, 7]), ("h\r\na\r\n\r\n\r\nb\r\n", vec![1, 2, 5])] {
            let got: Vec<u64> = record_lines(input).into_iter().map(|(first, _)| first).collect();
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn a_record_knows_the_line_it_ends_on() {
        for (input, want) in [("h\na\n\"b\nc\nd\"\ne", vec![(1, 1), (2, 2), (3, 5), (6, 6)]), ("h\r\n\"a\r\nb", vec![(1, 1), (2, 3)])] {
            assert_eq!(record_lines(input), want, "{input:?}");
        }
    }

    #[test]
    fn delimiter_is_guessed_from_the_header() {
        assert_eq!(delimiter(b"external_id;client;service_type;status\n1,2;3"), b';');
        assert_eq!(delimiter(b"external_id,client,service_type,status"), b',');
        assert_eq!(delimiter(b"external_id\tclient\tstatus"), b'\t');
    }

    #[test]
    fn header_must_have_the_required_columns_and_no_unknown_ones() {
        let ok = csv::ByteRecord::from(vec!["\u{feff}External_ID", "client", "service_type", "status", "actual_start"]);
        assert_eq!(header_map(&ok).unwrap(), vec![1, 2, 3, 4, 7]);
        let bad = csv::ByteRecord::from(vec!["external_id", "client", "status", "actual_strat"]);
        let ApiError::Invalid(errs) = header_map(&bad).unwrap_err() else { panic!() };
        let codes: Vec<_> = errs.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["unknown_column", "missing_column"]);
    }
}
