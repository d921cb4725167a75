//! The employee directory: a few stored employees plus any number of synthetic ones generated
//! from their index, so that a million rows cost no memory until one of them is changed.

use std::collections::BTreeMap;

use crate::clock::Millis;
use crate::config::SYNTHETIC_EMPLOYEE_ID_BASE;

/// One row of AM_EMPLOYEE, the columns the simulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Employee {
    pub(crate) id: u64,
    pub(crate) identification: String,
    pub(crate) last_name: String,
    pub(crate) e_mail: String,
    pub(crate) login: String,
    pub(crate) phone_number: String,
    pub(crate) cellular_number: String,
    pub(crate) manager_id: Option<u64>,
    pub(crate) begin_of_contract: String,
    pub(crate) end_of_contract: String,
    pub(crate) location_id: Option<u64>,
    pub(crate) department_id: Option<u64>,
    pub(crate) last_update: Millis,
}

/// The columns an employee can be found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmployeeKey {
    Id,
    Identification,
    Mail,
    Name,
    Login,
}

/// Stored employees (named, created, or synthetic ones that were changed) over a synthetic range.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    stored: BTreeMap<u64, Employee>,
    synthetic_count: u64,
    location_ids: Vec<u64>,
    department_ids: Vec<u64>,
    /// `LAST_UPDATE` of synthetic employee 0; employee `i` is `i` milliseconds later.
    synthetic_epoch: Millis,
    next_id: u64,
}

impl Directory {
    pub(crate) fn new(
        synthetic_count: u64,
        location_ids: Vec<u64>,
        department_ids: Vec<u64>,
        synthetic_epoch: Millis,
    ) -> Self {
        Self {
            stored: BTreeMap::new(),
            synthetic_count,
            location_ids,
            department_ids,
            synthetic_epoch,
            next_id: SYNTHETIC_EMPLOYEE_ID_BASE + synthetic_count,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        let synthetic_range = self.synthetic_range();
        let outside = self.stored.keys().filter(|id| !synthetic_range.contains(id)).count();
        self.synthetic_count + outside as u64
    }

    fn synthetic_range(&self) -> std::ops::Range<u64> {
        SYNTHETIC_EMPLOYEE_ID_BASE..SYNTHETIC_EMPLOYEE_ID_BASE + self.synthetic_count
    }

    /// Takes `id` (or the next free id) and stores the employee under it.
    pub(crate) fn insert(&mut self, mut employee: Employee, id: Option<u64>) -> u64 {
        let id = id.unwrap_or(self.next_id);
        self.next_id = self.next_id.max(id + 1);
        employee.id = id;
        self.stored.insert(id, employee);
        id
    }

    pub(crate) fn get(&self, id: u64) -> Option<Employee> {
        if let Some(stored) = self.stored.get(&id) {
            return Some(stored.clone());
        }
        self.synthetic_range()
            .contains(&id)
            .then(|| self.synthetic(id - SYNTHETIC_EMPLOYEE_ID_BASE))
    }

    /// The ids of rows `offset..offset + limit` in `EMPLOYEE_ID` order, without visiting the rest.
    pub(crate) fn page_ids(&self, offset: u64, limit: u64) -> Vec<u64> {
        let range = self.synthetic_range();
        let below: Vec<u64> = self.stored.range(..range.start).map(|(id, _)| *id).collect();
        let above: Vec<u64> = self.stored.range(range.end..).map(|(id, _)| *id).collect();
        let (below_len, synthetic_len) = (below.len() as u64, self.synthetic_count);
        (offset..offset.saturating_add(limit))
            .map_while(|k| {
                if k < below_len {
                    below.get(k as usize).copied()
                } else if k < below_len + synthetic_len {
                    Some(range.start + (k - below_len))
                } else {
                    above.get((k - below_len - synthetic_len) as usize).copied()
                }
            })
            .collect()
    }

    /// Every id in order (a full scan: fine for stored rows, slow over a million synthetic ones).
    pub(crate) fn all_ids(&self) -> impl Iterator<Item = u64> + '_ {
        let range = self.synthetic_range();
        let below = self.stored.range(..range.start).map(|(id, _)| *id);
        let above = self.stored.range(range.end..).map(|(id, _)| *id);
        below.chain(range).chain(above)
    }

    /// In id order, every stored id and the unchanged synthetic ids whose `LAST_UPDATE` falls in
    /// one of `windows` (inclusive, `None` an open end): the candidates of a `LAST_UPDATE`
    /// search, found without visiting the synthetic rows outside the windows.
    pub(crate) fn updated_within(&self, windows: &[crate::query::TimeWindow]) -> Vec<u64> {
        let count = i64::try_from(self.synthetic_count).unwrap_or(i64::MAX);
        let mut spans: Vec<(u64, u64)> = windows
            .iter()
            .filter_map(|(start, end)| {
                let low = start.map_or(0, |s| s.saturating_sub(self.synthetic_epoch).max(0));
                let high = end
                    .map_or(count - 1, |e| e.saturating_sub(self.synthetic_epoch).min(count - 1));
                (low <= high).then_some((low as u64, high as u64))
            })
            .collect();
        spans.sort_unstable();
        let mut ids: Vec<u64> = self.stored.keys().copied().collect();
        let mut next = 0u64;
        for (low, high) in spans {
            for index in low.max(next)..=high {
                let id = SYNTHETIC_EMPLOYEE_ID_BASE + index;
                if !self.stored.contains_key(&id) {
                    ids.push(id);
                }
            }
            next = next.max(high + 1);
        }
        ids.sort_unstable();
        ids
    }

    /// The ids whose column `key` equals `value` (case-insensitive), found without a scan of the
    /// synthetic range.
    pub(crate) fn find(&self, key: EmployeeKey, value: &str) -> Vec<u64> {
        let value = value.trim();
        let mut found: Vec<u64> = self
            .stored
            .values()
            .filter(|e| column(e, key).eq_ignore_ascii_case(value))
            .map(|e| e.id)
            .collect();
        if let Some(index) = synthetic_index_of(key, value)
            && index < self.synthetic_count
        {
            let id = SYNTHETIC_EMPLOYEE_ID_BASE + index;
            if !self.stored.contains_key(&id) {
                found.push(id);
            }
        }
        found.sort_unstable();
        found
    }

    fn synthetic(&self, index: u64) -> Employee {
        let row = self.synthetic_row(index);
        let text = |column| {
            let mut s = String::new();
            write_synthetic(&mut s, index, column);
            s
        };
        Employee {
            id: SYNTHETIC_EMPLOYEE_ID_BASE + index,
            identification: text(TextColumn::Identification),
            last_name: text(TextColumn::LastName),
            e_mail: text(TextColumn::Mail),
            login: text(TextColumn::Login),
            phone_number: text(TextColumn::Phone),
            cellular_number: text(TextColumn::Cellular),
            manager_id: row.manager_id,
            begin_of_contract: text(TextColumn::BeginOfContract),
            end_of_contract: text(TextColumn::EndOfContract),
            location_id: row.location_id,
            department_id: row.department_id,
            last_update: row.last_update,
        }
    }

    fn synthetic_row(&self, index: u64) -> SyntheticRow {
        let pick = |ids: &[u64], salt: u64| {
            if ids.is_empty() {
                None
            } else {
                ids.get(((index / salt) % ids.len() as u64) as usize).copied()
            }
        };
        let manager = index - index % 50;
        SyntheticRow {
            index,
            manager_id: (manager != index).then_some(SYNTHETIC_EMPLOYEE_ID_BASE + manager),
            location_id: pick(&self.location_ids, 1),
            department_id: pick(&self.department_ids, 7),
            last_update: self.synthetic_epoch + index as i64,
        }
    }

    /// The row with this id, without building strings for a synthetic one.
    pub(crate) fn row(&self, id: u64) -> Option<Row<'_>> {
        if let Some(stored) = self.stored.get(&id) {
            return Some(Row::Stored(stored));
        }
        self.synthetic_range()
            .contains(&id)
            .then(|| Row::Synthetic(self.synthetic_row(id - SYNTHETIC_EMPLOYEE_ID_BASE)))
    }
}

/// The text columns of an employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextColumn {
    Identification,
    LastName,
    Mail,
    Login,
    Phone,
    Cellular,
    BeginOfContract,
    EndOfContract,
}

/// A synthetic employee's non-text columns; its text columns are written from the index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyntheticRow {
    index: u64,
    manager_id: Option<u64>,
    location_id: Option<u64>,
    department_id: Option<u64>,
    last_update: Millis,
}

/// One row of the directory as the list writer sees it.
pub(crate) enum Row<'a> {
    Stored(&'a Employee),
    Synthetic(SyntheticRow),
}

impl Row<'_> {
    pub(crate) fn id(&self) -> u64 {
        match self {
            Self::Stored(e) => e.id,
            Self::Synthetic(r) => SYNTHETIC_EMPLOYEE_ID_BASE + r.index,
        }
    }

    pub(crate) fn manager_id(&self) -> Option<u64> {
        match self {
            Self::Stored(e) => e.manager_id,
            Self::Synthetic(r) => r.manager_id,
        }
    }

    pub(crate) fn location_id(&self) -> Option<u64> {
        match self {
            Self::Stored(e) => e.location_id,
            Self::Synthetic(r) => r.location_id,
        }
    }

    pub(crate) fn department_id(&self) -> Option<u64> {
        match self {
            Self::Stored(e) => e.department_id,
            Self::Synthetic(r) => r.department_id,
        }
    }

    pub(crate) fn last_update(&self) -> Millis {
        match self {
            Self::Stored(e) => e.last_update,
            Self::Synthetic(r) => r.last_update,
        }
    }

    /// Appends the column as a JSON string.
    pub(crate) fn write_json_text(&self, out: &mut String, column: TextColumn) {
        match self {
            Self::Stored(e) => {
                let value = match column {
                    TextColumn::Identification => &e.identification,
                    TextColumn::LastName => &e.last_name,
                    TextColumn::Mail => &e.e_mail,
                    TextColumn::Login => &e.login,
                    TextColumn::Phone => &e.phone_number,
                    TextColumn::Cellular => &e.cellular_number,
                    TextColumn::BeginOfContract => &e.begin_of_contract,
                    TextColumn::EndOfContract => &e.end_of_contract,
                };
                crate::instance::push_json_str(out, value);
            }
            // Synthetic text never needs escaping.
            Self::Synthetic(r) => {
                out.push('"');
                write_synthetic(out, r.index, column);
                out.push('"');
            }
        }
    }
}

/// Writes a synthetic employee's text column; the patterns are inverted by
/// [`synthetic_index_of`].
fn write_synthetic(out: &mut String, index: u64, column: TextColumn) {
    match column {
        TextColumn::Identification => {
            out.push_str("SYN");
            push_padded(out, index, 7);
        }
        TextColumn::LastName => {
            out.push_str("Employee");
            push_padded(out, index, 7);
            out.push_str(", Synthetic");
        }
        TextColumn::Mail => {
            out.push_str("employee");
            push_padded(out, index, 7);
            out.push_str("@synthetic.example.test");
        }
        TextColumn::Login => {
            out.push_str("emp");
            push_padded(out, index, 7);
        }
        TextColumn::Phone => {
            out.push_str("+33 1 ");
            for (i, part) in
                [index / 1_000_000, index / 10_000, index / 100, index].into_iter().enumerate()
            {
                if i > 0 {
                    out.push(' ');
                }
                push_padded(out, part % 100, 2);
            }
        }
        TextColumn::Cellular => {}
        TextColumn::BeginOfContract => {
            out.push_str("20");
            push_padded(out, 10 + index % 15, 2);
            out.push('-');
            push_padded(out, 1 + index % 12, 2);
            out.push('-');
            push_padded(out, 1 + index % 28, 2);
        }
        TextColumn::EndOfContract => {
            if index % 97 == 96 {
                out.push_str("2024-12-31");
            }
        }
    }
}

/// Appends `n` in decimal, zero-padded to `width` digits, without the formatting machinery.
pub(crate) fn push_padded(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut len = 0;
    while n > 0 || len == 0 {
        digits[19 - len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
    }
    for _ in len..width {
        out.push('0');
    }
    for &d in &digits[20 - len..] {
        out.push(char::from(d));
    }
}

fn column(e: &Employee, key: EmployeeKey) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match key {
        EmployeeKey::Id => Cow::Owned(e.id.to_string()),
        EmployeeKey::Identification => Cow::Borrowed(&e.identification),
        EmployeeKey::Mail => Cow::Borrowed(&e.e_mail),
        EmployeeKey::Name => Cow::Borrowed(&e.last_name),
        EmployeeKey::Login => Cow::Borrowed(&e.login),
    }
}

/// Inverts the synthetic patterns: which index would have this value in this column.
fn synthetic_index_of(key: EmployeeKey, value: &str) -> Option<u64> {
    let lower = value.to_ascii_lowercase();
    let digits = match key {
        EmployeeKey::Id => {
            return value.parse::<u64>().ok()?.checked_sub(SYNTHETIC_EMPLOYEE_ID_BASE);
        }
        EmployeeKey::Identification => lower.strip_prefix("syn")?,
        EmployeeKey::Mail => {
            lower.strip_prefix("employee")?.strip_suffix("@synthetic.example.test")?
        }
        EmployeeKey::Name => lower.strip_prefix("employee")?.strip_suffix(", synthetic")?,
        EmployeeKey::Login => lower.strip_prefix("emp")?,
    };
    (digits.len() == 7 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        let mut d = Directory::new(1_000_000, vec![1, 2], vec![1, 2, 3], 0);
        let named = d.synthetic(0);
        d.insert(Employee { identification: "N1".into(), login: "named".into(), ..named }, Some(1));
        d
    }

    #[test]
    fn a_million_employees_cost_nothing_until_read() {
        let d = directory();
        assert_eq!(d.len(), 1_000_001);
        assert_eq!(d.stored.len(), 1);
        let last = d.get(SYNTHETIC_EMPLOYEE_ID_BASE + 999_999).expect("exists");
        assert_eq!(last.identification, "SYN0999999");
        assert!(d.get(SYNTHETIC_EMPLOYEE_ID_BASE + 1_000_000).is_none());
    }

    #[test]
    fn updated_within_finds_what_a_scan_finds() {
        let mut d = Directory::new(1_000, vec![1], vec![1], 5_000);
        d.insert(Employee { last_update: 5_010, ..d.synthetic(0) }, Some(1));
        let changed = SYNTHETIC_EMPLOYEE_ID_BASE + 20;
        d.insert(Employee { last_update: 9_000_000, ..d.synthetic(20) }, Some(changed));
        let scan = |windows: &[crate::query::TimeWindow]| -> Vec<u64> {
            d.all_ids()
                .filter(|id| {
                    let at = d.row(*id).expect("exists").last_update();
                    windows
                        .iter()
                        .any(|(s, e)| s.is_none_or(|s| at >= s) && e.is_none_or(|e| at <= e))
                })
                .collect()
        };
        let cases: Vec<Vec<crate::query::TimeWindow>> = vec![
            vec![(Some(5_010), Some(5_030))],
            vec![(Some(5_990), None)],
            vec![(None, Some(5_002))],
            vec![
                (Some(5_015), Some(5_025)),
                (Some(5_020), Some(5_040)),
                (Some(5_500), Some(5_501)),
            ],
            vec![(Some(6_000), None)],
            vec![(Some(9_000_000), Some(9_000_000))],
            vec![(None, Some(4_000))],
            vec![(Some(5_100), Some(5_050))],
        ];
        for windows in cases {
            let candidates = d.updated_within(&windows);
            let found = scan(&windows);
            assert!(found.iter().all(|id| candidates.contains(id)), "{windows:?}");
            // Only stored rows are candidates beyond what matches.
            let extra = candidates.iter().filter(|id| !found.contains(id));
            assert!(extra.into_iter().all(|id| d.stored.contains_key(id)), "{windows:?}");
            assert!(candidates.windows(2).all(|w| w[0] < w[1]), "in id order");
        }
        assert_eq!(d.updated_within(&[(Some(6_000), None)]), vec![1, changed]);
    }

    #[test]
    fn pages_follow_id_order() {
        let d = directory();
        assert_eq!(
            d.page_ids(0, 3),
            vec![1, SYNTHETIC_EMPLOYEE_ID_BASE, SYNTHETIC_EMPLOYEE_ID_BASE + 1]
        );
        assert_eq!(d.page_ids(1_000_000, 5), vec![SYNTHETIC_EMPLOYEE_ID_BASE + 999_999]);
    }

    #[test]
    fn synthetic_rows_are_found_by_their_columns() {
        let d = directory();
        let e = d.synthetic(4242);
        for (key, value) in [
            (EmployeeKey::Identification, e.identification.as_str()),
            (EmployeeKey::Mail, &e.e_mail.to_uppercase()),
            (EmployeeKey::Name, &e.last_name),
            (EmployeeKey::Login, &e.login),
        ] {
            assert_eq!(d.find(key, value), vec![e.id], "{key:?}");
        }
        assert_eq!(d.find(EmployeeKey::Login, "named"), vec![1]);
        assert!(d.find(EmployeeKey::Identification, "SYN9999999").is_empty());
    }

    #[test]
    fn a_changed_synthetic_row_is_found_by_its_new_value_only() {
        let mut d = directory();
        let mut e = d.synthetic(7);
        let id = e.id;
        e.login = "renamed".into();
        d.insert(e, Some(id));
        assert_eq!(d.find(EmployeeKey::Login, "renamed"), vec![id]);
        assert!(d.find(EmployeeKey::Login, "emp0000007").is_empty());
        assert_eq!(d.len(), 1_000_001);
    }
}
