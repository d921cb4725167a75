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
        self.synthetic_range().contains(&id).then(|| self.synthetic(id - SYNTHETIC_EMPLOYEE_ID_BASE))
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
        let pick = |ids: &[u64], salt: u64| {
            if ids.is_empty() { None } else { ids.get(((index / salt) % ids.len() as u64) as usize).copied() }
        };
        let manager = index - index % 50;
        Employee {
            id: SYNTHETIC_EMPLOYEE_ID_BASE + index,
            identification: format!("SYN{index:07}"),
            last_name: format!("Employee{index:07}, Synthetic"),
            e_mail: format!("employee{index:07}@synthetic.example.test"),
            login: format!("emp{index:07}"),
            phone_number: format!("+33 1 {:02} {:02} {:02} {:02}", index / 1_000_000 % 100, index / 10_000 % 100, index / 100 % 100, index % 100),
            cellular_number: String::new(),
            manager_id: (manager != index).then_some(SYNTHETIC_EMPLOYEE_ID_BASE + manager),
            begin_of_contract: format!("20{:02}-{:02}-{:02}", 10 + index % 15, 1 + index % 12, 1 + index % 28),
            end_of_contract: if index % 97 == 96 { "2024-12-31".into() } else { String::new() },
            location_id: pick(&self.location_ids, 1),
            department_id: pick(&self.department_ids, 7),
            last_update: self.synthetic_epoch + index as i64,
        }
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
        EmployeeKey::Mail => lower.strip_prefix("employee")?.strip_suffix("@synthetic.example.test")?,
        EmployeeKey::Name => lower.strip_prefix("employee")?.strip_suffix(", synthetic")?,
        EmployeeKey::Login => lower.strip_prefix("emp")?,
    };
    (digits.len() == 7 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
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
    fn pages_follow_id_order() {
        let d = directory();
        assert_eq!(d.page_ids(0, 3), vec![1, SYNTHETIC_EMPLOYEE_ID_BASE, SYNTHETIC_EMPLOYEE_ID_BASE + 1]);
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
