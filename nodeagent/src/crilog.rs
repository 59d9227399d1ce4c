//! The CRI container log format, one record per line:
//! `2016-10-06T00:17:09.669794202Z stdout F the log line` (`F` a full line, `P` a partial one).
//! Writing splits output into records; reading turns records back into what `kubectl logs` shows.

use std::io::{self, BufRead, Read, Write};

use jiff::Timestamp;

/// Longer lines are split into partial records, as container runtimes do.
pub const MAX_RECORD: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// RFC 3339 with nanoseconds, as the CRI format and `kubectl logs --timestamps` print it.
pub fn format_time(t: Timestamp) -> String {
    format!("{t:.9}")
}

/// Writes one record. `content` must not contain a newline unless it is the final byte.
pub fn write_record(out: &mut impl Write, time: Timestamp, stream: Stream, content: &[u8]) -> io::Result<()> {
    let (body, tag) = match content.strip_suffix(b"\n") {
        Some(body) => (body, "F"),
        None => (content, "P"),
    };
    write!(out, "{} {} {tag} ", format_time(time), stream.as_str())?;
    out.write_all(body)?;
    out.write_all(b"\n")
}

/// Copies a stream into records until EOF, stamping each with the time it was read.
/// Calls `flush` after each record, so readers following the file see lines at once.
pub fn copy_stream(input: impl io::Read, out: &mut impl Write, stream: Stream) -> io::Result<()> {
    let mut reader = io::BufReader::new(input);
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let n = Read::by_ref(&mut reader).take(MAX_RECORD as u64).read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        write_record(out, Timestamp::now(), stream, &buf)?;
        out.flush()?;
    }
}

/// One parsed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: Timestamp,
    pub stream: Stream,
    pub partial: bool,
    pub content: &'a str,
}

pub fn parse_record(line: &str) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, ' ');
    let time: Timestamp = parts.next()?.parse().ok()?;
    let stream = match parts.next()? {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        "P" => true,
        "F" => false,
        _ => return None,
    };
    Some(Record { time, stream, partial, content: parts.next().unwrap_or("") })
}

/// How to render records (the `kubectl logs` options that do not need the file's end).
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    pub timestamps: bool,
    pub since: Option<Timestamp>,
}

/// Renders complete records of `text` (a chunk of a log file). Returns the bytes and how many
/// bytes of `text` were consumed (a trailing incomplete line is left for later).
pub fn render(text: &str, options: &RenderOptions) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(text.len());
    let mut consumed = 0;
    let mut at_line_start = true;
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') {
            break;
        }
        consumed += line.len();
        let Some(rec) = parse_record(line.trim_end_matches('\n')) else { continue };
        if options.since.is_some_and(|since| rec.time < since) {
            continue;
        }
        if options.timestamps && at_line_start {
            out.extend_from_slice(format_time(rec.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(rec.content.as_bytes());
        if !rec.partial {
            out.push(b'\n');
        }
        at_line_start = !rec.partial;
    }
    (out, consumed)
}

/// The byte offset in `text` where the last `n` full log lines begin.
pub fn tail_offset(text: &str, n: u64) -> usize {
    if n == 0 {
        return text.len();
    }
    let mut full_lines = 0u64;
    let mut offset = text.len();
    let mut end = text.len();
    // Walk records backwards; a full record ends a log line.
    while end > 0 {
        let start = text[..end.saturating_sub(1)].rfind('\n').map_or(0, |i| i + 1);
        let line = &text[start..end];
        if let Some(rec) = parse_record(line.trim_end_matches('\n')) {
            if !rec.partial {
                if full_lines == n {
                    return offset;
                }
                full_lines += 1;
            }
        }
        offset = start;
        end = start;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn writes_records() {
        let mut out = Vec::new();
        write_record(&mut out, ts("2016-10-06T00:17:09.669794202Z"), Stream::Stdout, b"hello\n").unwrap();
        write_record(&mut out, ts("2016-10-06T00:17:10Z"), Stream::Stderr, b"part").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2016-10-06T00:17:09.669794202Z stdout F hello\n2016-10-06T00:17:10.000000000Z stderr P part\n"
        );
    }

    #[test]
    fn copy_splits_lines_and_long_lines() {
        let long = "x".repeat(MAX_RECORD + 10);
        let input = format!("a\nb\n{long}\ntail");
        let mut out = Vec::new();
        copy_stream(input.as_bytes(), &mut out, Stream::Stdout).unwrap();
        let text = String::from_utf8(out).unwrap();
        let tags: Vec<&str> = text.lines().map(|l| l.split(' ').nth(2).unwrap()).collect();
        assert_eq!(tags, vec!["F", "F", "P", "F", "P"]);
        let (rendered, consumed) = render(&text, &RenderOptions::default());
        assert_eq!(consumed, text.len());
        assert_eq!(String::from_utf8(rendered).unwrap(), format!("a\nb\n{long}\ntail"));
    }

    #[test]
    fn renders_with_options() {
        let text = "2024-01-01T00:00:01.000000000Z stdout F one\n\
                    2024-01-01T00:00:02.000000000Z stderr F two\n\
                    2024-01-01T00:00:03.000000000Z stdout P thr\n\
                    2024-01-01T00:00:03.500000000Z stdout F ee\n\
                    2024-01-01T00:00:04.000000000Z stdout F incompl";
        let (out, consumed) = render(text, &RenderOptions::default());
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\nthree\n");
        assert_eq!(&text[consumed..], "2024-01-01T00:00:04.000000000Z stdout F incompl");
        let (out, _) = render(text, &RenderOptions { timestamps: true, since: Some(ts("2024-01-01T00:00:02Z")) });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2024-01-01T00:00:02.000000000Z two\n2024-01-01T00:00:03.000000000Z three\n"
        );
    }

    #[test]
    fn tails_full_lines() {
        let text = "2024-01-01T00:00:01Z stdout F one\n\
                    2024-01-01T00:00:02Z stdout P t\n\
                    2024-01-01T00:00:02Z stdout F wo\n\
                    2024-01-01T00:00:03Z stdout F three\n";
        let render_from =
            |n| String::from_utf8(render(&text[tail_offset(text, n)..], &RenderOptions::default()).0).unwrap();
        assert_eq!(render_from(1), "three\n");
        assert_eq!(render_from(2), "two\nthree\n");
        assert_eq!(render_from(3), "one\ntwo\nthree\n");
        assert_eq!(render_from(10), "one\ntwo\nthree\n");
        assert_eq!(render_from(0), "");
    }
}
