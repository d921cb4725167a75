//! Where exported reference data goes (Identity Manager's side): one table per entity, written
//! row by row and made visible only on commit, plus the cookie an incremental export resumes from.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::orders::StoreError;

/// Takes exported tables. A table being written is invisible under its final name until
/// [`TableWriter::commit`]; until then the previous export of that entity stays in place.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ExportSink: Send + Sync {
    /// Starts writing `entity` with this header row.
    async fn begin(
        &self,
        entity: &str,
        header: &[String],
    ) -> Result<Box<dyn TableWriter>, StoreError>;

    /// The cookie saved after the last committed export of `entity`, if any.
    async fn cookie(&self, entity: &str) -> Result<Option<ExportCookie>, StoreError>;

    /// Saves the cookie of `entity`; called only after its table was committed.
    async fn save_cookie(&self, entity: &str, cookie: &ExportCookie) -> Result<(), StoreError>;
}

/// One table being written. Rows come a page at a time; each row has one cell per header column.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TableWriter: Send {
    async fn write_rows(&mut self, rows: Vec<Vec<String>>) -> Result<(), StoreError>;

    /// Writes a batch of rows held in one buffer. By default, as [`TableWriter::write_rows`];
    /// a writer that can take borrowed cells avoids a string per cell.
    async fn write_batch(&mut self, batch: RowBatch) -> Result<(), StoreError> {
        let rows = batch.rows().map(|row| row.map(str::to_owned).collect()).collect();
        self.write_rows(rows).await
    }

    /// Makes the table durable and visible under its final name, replacing the previous one.
    /// Returns where it is.
    async fn commit(&mut self) -> Result<String, StoreError>;

    /// Drops what was written; the previous export stays as it was.
    async fn abort(&mut self);
}

/// What an incremental export of one entity resumes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCookie {
    /// The next export asks for records updated at or after this timestamp.
    pub since: String,
    /// The newest `LAST_UPDATE` seen.
    pub last_update: String,
    /// Fingerprints of the rows already written that were updated at or after `since`: the
    /// next run skips them when they come back unchanged.
    #[serde(default)]
    pub seen: Vec<String>,
    /// The columns written, so that an incremental run with no row keeps the header.
    #[serde(default)]
    pub columns: Vec<String>,
}

/// Rows of the same width kept in one text buffer: the cells of row after row, one after the
/// other, with where each ends. Filling one costs no allocation per cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowBatch {
    width: usize,
    rows: usize,
    text: String,
    ends: Vec<usize>,
}

impl RowBatch {
    /// An empty batch of rows of `width` cells.
    pub fn new(width: usize) -> RowBatch {
        RowBatch { width, ..RowBatch::default() }
    }

    /// An empty batch with room for about `rows` rows of `bytes_per_row` bytes.
    pub fn with_capacity(width: usize, rows: usize, bytes_per_row: usize) -> RowBatch {
        RowBatch {
            width,
            rows: 0,
            text: String::with_capacity(rows * bytes_per_row),
            ends: Vec::with_capacity(rows * width),
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Complete rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Bytes of cell text held.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The text of the cell being written, to append to; [`RowBatch::end_cell`] closes it.
    #[inline]
    pub fn cell_buffer(&mut self) -> &mut String {
        &mut self.text
    }

    /// Closes the cell being written.
    #[inline]
    pub fn end_cell(&mut self) {
        self.ends.push(self.text.len());
    }

    /// Closes the row being written, which must have `width` cells.
    pub fn end_row(&mut self) {
        assert_eq!(self.ends.len(), (self.rows + 1) * self.width, "a row of the wrong width");
        self.rows += 1;
    }

    /// Drops the cells written since the last complete row.
    pub fn discard_partial_row(&mut self) {
        self.truncate(self.rows);
    }

    /// Drops the last complete row (and any partial one after it).
    pub fn pop_row(&mut self) {
        self.truncate(self.rows.saturating_sub(1));
    }

    /// The cells of the row being written, complete or not.
    pub fn partial_row(&self) -> impl Iterator<Item = &str> + '_ {
        self.cells(self.rows * self.width, self.ends.len())
    }

    /// The text of cell `column` of complete row `row`.
    #[inline]
    pub fn cell(&self, row: usize, column: usize) -> &str {
        assert!(row < self.rows && column < self.width, "no cell {column} in row {row}");
        let at = row * self.width + column;
        let start = if at == 0 { 0 } else { self.ends[at - 1] };
        &self.text[start..self.ends[at]]
    }

    /// The complete rows, each as its cells.
    pub fn rows(&self) -> impl Iterator<Item = impl Iterator<Item = &str> + '_> + '_ {
        (0..self.rows).map(|row| self.cells(row * self.width, (row + 1) * self.width))
    }

    fn truncate(&mut self, rows: usize) {
        self.rows = rows;
        self.ends.truncate(rows * self.width);
        self.text.truncate(self.ends.last().copied().unwrap_or(0));
    }

    fn cells(&self, first: usize, end: usize) -> impl Iterator<Item = &str> + '_ {
        (first..end).map(move |cell| {
            let start = if cell == 0 { 0 } else { self.ends[cell - 1] };
            &self.text[start..self.ends[cell]]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::RowBatch;

    fn fill(batch: &mut RowBatch, cells: &[&str]) {
        for cell in cells {
            batch.cell_buffer().push_str(cell);
            batch.end_cell();
        }
    }

    #[test]
    fn a_batch_gives_back_its_complete_rows_cell_by_cell() {
        let mut batch = RowBatch::new(2);
        fill(&mut batch, &["1", "Morley, Gaby"]);
        batch.end_row();
        fill(&mut batch, &["2", ""]);
        batch.end_row();
        fill(&mut batch, &["3"]);
        assert_eq!(batch.len(), 2, "a partial row is not counted");
        assert_eq!(batch.partial_row().collect::<Vec<_>>(), ["3"]);
        batch.discard_partial_row();
        let rows: Vec<Vec<&str>> = batch.rows().map(Iterator::collect).collect();
        assert_eq!(rows, [vec!["1", "Morley, Gaby"], vec!["2", ""]]);

        assert_eq!(
            (batch.cell(0, 1), batch.cell(1, 0), batch.cell(1, 1)),
            ("Morley, Gaby", "2", "")
        );
        batch.pop_row();
        assert_eq!(batch.rows().count(), 1);
        batch.pop_row();
        assert!(batch.is_empty());
        assert_eq!(batch.text_len(), 0);
    }

    #[test]
    fn rows_without_cells_are_still_counted() {
        let mut batch = RowBatch::new(0);
        batch.end_row();
        batch.end_row();
        assert_eq!(batch.rows().count(), 2);
    }
}
