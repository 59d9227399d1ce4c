//! Column alignment the way kubectl does it: Go's `text/tabwriter` elastic tabstops (cells end at a
//! tab, a column block is a run of lines that all have that column), with kubectl's settings and the
//! "remember widths" extension it uses so rows streamed by `get -w` stay aligned with the header.

/// The settings of one writer.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Smallest width of a cell, padding included.
    pub min_width: usize,
    /// Spaces added after the widest cell of a column.
    pub padding: usize,
    /// Keep column widths from one flush to the next (they only grow).
    pub remember_widths: bool,
}

/// `kubectl get`: minimum width 6, padding 3, widths remembered across flushes.
pub const GET: Settings = Settings { min_width: 6, padding: 3, remember_widths: true };
/// `kubectl describe`: minimum width 0, padding 2.
pub const DESCRIBE: Settings = Settings { min_width: 0, padding: 2, remember_widths: false };

/// Formats tab-separated text into aligned columns.
#[derive(Debug)]
pub struct TabWriter {
    settings: Settings,
    remembered: Vec<usize>,
}

impl TabWriter {
    pub fn new(settings: Settings) -> TabWriter {
        TabWriter { settings, remembered: Vec::new() }
    }

    /// Aligns `text` (lines ending in `\n`, cells separated by `\t`) and returns the result. With
    /// `remember_widths`, later calls never make a column narrower than an earlier call did.
    pub fn format(&mut self, text: &str) -> String {
        let mut lines: Vec<Vec<&str>> = text.split_terminator('\n').map(|l| l.split('\t').collect()).collect();
        if !text.ends_with('\n') && text.is_empty() {
            lines.clear();
        }
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.block(&lines, 0, lines.len(), &mut widths, &mut out);
        out
    }

    /// Go's `format`: finds the column blocks of column `widths.len()` in `lines[from..to]`.
    fn block(&mut self, lines: &[Vec<&str>], from: usize, to: usize, widths: &mut Vec<usize>, out: &mut String) {
        let column = widths.len();
        let mut start = from;
        let mut this = from;
        while this < to {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            write_lines(&lines[start..this], widths, out);
            start = this;
            let mut width = self.settings.min_width;
            if self.settings.remember_widths {
                width = width.max(self.remembered.get(column).copied().unwrap_or(0));
            }
            while this < to && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].chars().count() + self.settings.padding);
                this += 1;
            }
            if self.settings.remember_widths {
                if self.remembered.len() <= column {
                    self.remembered.resize(column + 1, 0);
                }
                self.remembered[column] = width;
            }
            widths.push(width);
            self.block(lines, start, this, widths, out);
            widths.pop();
            start = this;
        }
        write_lines(&lines[start..to], widths, out);
    }
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(&w) = widths.get(j) {
                let n = cell.chars().count();
                out.extend(std::iter::repeat_n(' ', w.saturating_sub(n)));
            }
        }
        out.push('\n');
    }
}

/// Joins rows of cells into tab-separated lines, ready for [`TabWriter::format`].
pub fn join_rows(rows: &[Vec<String>]) -> String {
    let mut s = String::new();
    for row in rows {
        s.push_str(&row.join("\t"));
        s.push('\n');
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn get(rows: &[&[&str]]) -> String {
        let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
        TabWriter::new(GET).format(&join_rows(&rows))
    }

    #[test]
    fn pods_table_has_three_spaces_between_columns() {
        let out = get(&[&["NAME", "READY", "STATUS", "RESTARTS", "AGE"], &["web", "2/2", "Running", "0", "60m"]]);
        assert_eq!(out, "NAME   READY   STATUS    RESTARTS   AGE\nweb    2/2     Running   0          60m\n");
    }

    #[test]
    fn minimum_width_is_six() {
        let out = get(&[&["A", "B"], &["x", "y"]]);
        assert_eq!(out, "A     B\nx     y\n");
    }

    #[test]
    fn remembered_widths_keep_streamed_rows_aligned() {
        let mut w = TabWriter::new(GET);
        let head = w.format("NAME\tSTATUS\tAGE\nlongername\tRunning\t1s\n");
        assert_eq!(head, "NAME         STATUS    AGE\nlongername   Running   1s\n");
        let next = w.format("a\tPending\t0s\n");
        assert_eq!(next, "a            Pending   0s\n");
        let wider = w.format("a\tTerminating\t0s\n");
        assert_eq!(wider, "a            Terminating   0s\n");
    }

    #[test]
    fn describe_blocks_end_at_lines_without_tabs() {
        let mut w = TabWriter::new(DESCRIBE);
        let out = w.format("Name:\tweb\nNamespace:\tdefault\nContainers:\n  c:\n    Image:\tnginx\n");
        assert_eq!(out, "Name:       web\nNamespace:  default\nContainers:\n  c:\n    Image:  nginx\n");
    }

    #[test]
    fn short_lines_inside_a_block_get_padded_like_go() {
        let mut w = TabWriter::new(DESCRIBE);
        let out = w.format("  Type\tStatus\n  PodScheduled\tTrue \n");
        assert_eq!(out, "  Type          Status\n  PodScheduled  True \n");
        let out = w.format("a\tb\tc\nlonger\td\n");
        assert_eq!(out, "a       b  c\nlonger  d\n");
    }

    #[test]
    fn empty_input_gives_empty_output() {
        assert_eq!(TabWriter::new(GET).format(""), "");
    }
}
