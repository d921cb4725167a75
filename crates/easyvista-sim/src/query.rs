//! The list parameters of every collection route: `search`, `sort` and `fields`, parsed from the
//! query string and applied to records.
//!
//! Parsing follows what real instances accept; what they cannot parse they ignore, and so does
//! this module (the caller decides whether that becomes the whole table or a 400).

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{Datelike, Days, Months, NaiveDate, TimeZone};

use crate::clock::{BoundError, Clock, Millis};
use crate::config::Realism;
use crate::record::Record;

/// A parsed `search`: groups joined by AND, each group an OR of terms on one field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Search {
    pub(crate) groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Group {
    /// As written, dotted for nested fields.
    pub(crate) field: String,
    pub(crate) terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Term {
    Equal(String),
    NotEqual(String),
    Like(String),
    NotLike(String),
    IsNull,
    IsNotNull,
    /// Raw bounds of `(start;end)`, either may be empty.
    Range(String, String),
    /// A relative date keyword such as `today` or `this_week`.
    Relative(String),
}

/// What became of the `search` parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SearchPlan {
    /// No search, or one the instance would ignore: every row matches.
    Everything,
    /// A search the simulator could not parse (the text says why).
    Unparseable(String),
    Filter(Search),
}

/// Inclusive bounds of a date window; `None` is an open end.
pub(crate) type TimeWindow = (Option<Millis>, Option<Millis>);

/// A search the real server rejects with 590 instead of ignoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SearchRejected(pub(crate) String);

/// One key of a `sort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortKey {
    pub(crate) field: String,
    pub(crate) descending: bool,
}

const RELATIVE_KEYWORDS: &[&str] = &[
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_year",
    "last_year",
];

/// Parses `search`; `realism` may turn a filter into [`SearchPlan::Everything`].
pub(crate) fn plan_search(text: Option<&str>, realism: Realism) -> SearchPlan {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return SearchPlan::Everything;
    };
    let search = match parse_search(text) {
        Ok(search) => search,
        Err(why) => return SearchPlan::Unparseable(why),
    };
    let ignored = search.groups.iter().any(|g| {
        let last = g.field.rsplit('.').next().unwrap_or(&g.field);
        (realism.ignore_path_filters && last.to_ascii_uppercase().ends_with("_PATH"))
            || (realism.ignore_nested_filters && g.field.contains('.'))
    });
    if ignored { SearchPlan::Everything } else { SearchPlan::Filter(search) }
}

pub(crate) fn parse_search(text: &str) -> Result<Search, String> {
    let mut groups: Vec<Group> = Vec::new();
    for raw in split_terms(text)? {
        let (field, term) = parse_term(raw.trim())?;
        match groups.iter_mut().find(|g| g.field.eq_ignore_ascii_case(&field)) {
            Some(group) => group.terms.push(term),
            None => groups.push(Group { field, terms: vec![term] }),
        }
    }
    Ok(Search { groups })
}

/// Splits on commas outside quotes and parentheses.
fn split_terms(text: &str) -> Result<Vec<&str>, String> {
    let mut terms = Vec::new();
    let (mut in_quotes, mut depth, mut start) = (false, 0u32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '(' if !in_quotes => depth += 1,
            ')' if !in_quotes => depth = depth.checked_sub(1).ok_or("unbalanced parenthesis")?,
            ',' if !in_quotes && depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_quotes {
        return Err("unterminated quote".into());
    }
    if depth != 0 {
        return Err("unbalanced parenthesis".into());
    }
    terms.push(&text[start..]);
    Ok(terms)
}

fn parse_term(term: &str) -> Result<(String, Term), String> {
    let field_len = term
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .ok_or_else(|| format!("no operator in {term:?}"))?;
    let field = &term[..field_len];
    if field.is_empty() || !field.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!("bad field name in {term:?}"));
    }
    let rest = &term[field_len..];
    let parsed = if let Some(value) = rest.strip_prefix("!~") {
        Term::NotLike(parse_value(value)?)
    } else if let Some(value) = rest.strip_prefix('~') {
        Term::Like(parse_value(value)?)
    } else if let Some(value) = rest.strip_prefix("!:").or_else(|| rest.strip_prefix('!')) {
        Term::NotEqual(parse_value(value)?)
    } else if let Some(value) = rest.strip_prefix(':') {
        parse_colon_value(value)?
    } else {
        return Err(format!("unknown operator in {term:?}"));
    };
    Ok((field.to_string(), parsed))
}

fn parse_colon_value(value: &str) -> Result<Term, String> {
    let value = value.trim();
    if let Some(negated) = value.strip_prefix('!') {
        return Ok(Term::NotEqual(parse_value(negated)?));
    }
    if let Some(inner) = value.strip_prefix('(') {
        let inner = inner.strip_suffix(')').ok_or("unterminated range")?;
        let (start, end) = inner.split_once(';').ok_or("range without ';'")?;
        return Ok(Term::Range(unquote(start.trim())?, unquote(end.trim())?));
    }
    if value.eq_ignore_ascii_case("is_null") {
        return Ok(Term::IsNull);
    }
    if value.eq_ignore_ascii_case("is_not_null") {
        return Ok(Term::IsNotNull);
    }
    if RELATIVE_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(value)) {
        return Ok(Term::Relative(value.to_ascii_lowercase()));
    }
    Ok(Term::Equal(parse_value(value)?))
}

fn parse_value(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.starts_with('"') {
        return unquote(value);
    }
    if value.is_empty() || value.contains('"') {
        return Err(format!("bad value {value:?}"));
    }
    Ok(value.to_string())
}

fn unquote(value: &str) -> Result<String, String> {
    match value.strip_prefix('"') {
        None => Ok(value.to_string()),
        Some(rest) => match rest.strip_suffix('"') {
            Some(inner) if !inner.contains('"') => Ok(inner.to_string()),
            _ => Err(format!("bad quoting in {value:?}")),
        },
    }
}

/// Parses `sort`: `field`, `field asc` or `field desc` (`+` arrives as a space), comma-separated.
/// Any other spelling (`field:desc`, `-field`, `desc(field)`) is ignored, as real instances do.
pub(crate) fn parse_sort(text: Option<&str>) -> Vec<SortKey> {
    let Some(text) = text else { return Vec::new() };
    text.split(',')
        .filter_map(|item| {
            let mut words = item.split_whitespace();
            let field = words.next()?;
            let descending = match words.next() {
                None => false,
                Some(w) if w.eq_ignore_ascii_case("asc") => false,
                Some(w) if w.eq_ignore_ascii_case("desc") => true,
                Some(_) => return None,
            };
            let valid = field.starts_with(|c: char| c.is_ascii_alphabetic())
                && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            (valid && words.next().is_none())
                .then(|| SortKey { field: field.to_string(), descending })
        })
        .collect()
}

/// Parses `fields`: a comma-separated projection, dotted names allowed.
pub(crate) fn parse_fields(text: Option<&str>) -> Option<Vec<String>> {
    let fields: Vec<String> =
        text?.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_string).collect();
    (!fields.is_empty()).then_some(fields)
}

impl Search {
    /// Whether every field the search names exists on `sample` (a row of the resource).
    pub(crate) fn fields_exist_on(&self, sample: &Record) -> bool {
        self.groups.iter().all(|g| sample.lookup(&g.field).is_some())
    }

    pub(crate) fn matches(&self, record: &Record, clock: &Clock) -> Result<bool, SearchRejected> {
        for group in &self.groups {
            let value = record.text(&group.field);
            let mut any = false;
            for term in &group.terms {
                if term_matches(&group.field, term, value.as_deref(), clock)? {
                    any = true;
                    break;
                }
            }
            if !any {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The inclusive windows of instants `field` must fall in, when the search asks for it with
    /// date ranges or relative dates only (an OR of windows; `None` for an open end). `None`
    /// when the field is searched otherwise or a bound does not parse, so that matching the
    /// rows reports the error. Used to find candidate rows without scanning a large table.
    pub(crate) fn time_windows(&self, field: &str, clock: &Clock) -> Option<Vec<TimeWindow>> {
        let group = self.groups.iter().find(|g| g.field.eq_ignore_ascii_case(field))?;
        group
            .terms
            .iter()
            .map(|t| match t {
                Term::Range(start, end) => {
                    let numeric = |b: &str| b.is_empty() || b.parse::<f64>().is_ok();
                    if numeric(start) && numeric(end) {
                        return None;
                    }
                    let bound = |b: &str| -> Option<Option<Millis>> {
                        if b.is_empty() { Some(None) } else { clock.parse_bound(b).ok().map(Some) }
                    };
                    Some((bound(start)?, bound(end)?))
                }
                Term::Relative(keyword) => {
                    let (start, end) = relative_window(keyword, clock);
                    Some((Some(start), Some(end - 1)))
                }
                _ => None,
            })
            .collect()
    }

    /// The exact values asked for `field` when the search pins it with `:` alone (used to find
    /// candidate rows without scanning a large table).
    pub(crate) fn pinned_values(&self, field: &str) -> Option<Vec<&str>> {
        let group = self.groups.iter().find(|g| g.field.eq_ignore_ascii_case(field))?;
        group
            .terms
            .iter()
            .map(|t| match t {
                Term::Equal(v) => Some(v.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn is_numeric_column(field: &str) -> bool {
    let last = field.rsplit('.').next().unwrap_or(field).to_ascii_uppercase();
    last.ends_with("_ID") && last != "EMPLOYEE_GUID"
}

fn term_matches(
    field: &str,
    term: &Term,
    value: Option<&str>,
    clock: &Clock,
) -> Result<bool, SearchRejected> {
    let check_type = |wanted: &str| {
        if is_numeric_column(field) && wanted.parse::<i64>().is_err() {
            Err(SearchRejected(format!(
                "Conversion failed when converting the varchar value '{wanted}' to data type int"
            )))
        } else {
            Ok(())
        }
    };
    let Some(value) = value else { return Ok(false) };
    Ok(match term {
        Term::Equal(wanted) => {
            check_type(wanted)?;
            value.eq_ignore_ascii_case(wanted)
        }
        Term::NotEqual(wanted) => {
            check_type(wanted)?;
            !value.eq_ignore_ascii_case(wanted)
        }
        Term::Like(pattern) => like(value, pattern),
        Term::NotLike(pattern) => !like(value, pattern),
        Term::IsNull => value.is_empty(),
        Term::IsNotNull => !value.is_empty(),
        Term::Range(start, end) => in_range(value, start, end, clock)?,
        Term::Relative(keyword) => {
            let (start, end) = relative_window(keyword, clock);
            parse_stamp(value).is_some_and(|at| at >= start && at < end)
        }
    })
}

fn parse_stamp(value: &str) -> Option<Millis> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(at.timestamp_millis());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
}

fn in_range(value: &str, start: &str, end: &str, clock: &Clock) -> Result<bool, SearchRejected> {
    let numeric = |s: &str| s.parse::<f64>().ok();
    if [start, end].iter().all(|b| b.is_empty() || numeric(b).is_some()) {
        let Some(v) = numeric(value) else { return Ok(false) };
        let low = numeric(start).is_none_or(|s| v >= s);
        let high = numeric(end).is_none_or(|e| v <= e);
        return Ok(low && high);
    }
    let bound = |b: &str| -> Result<Option<Millis>, SearchRejected> {
        if b.is_empty() {
            return Ok(None);
        }
        clock.parse_bound(b).map(Some).map_err(|e| {
            SearchRejected(match e {
                BoundError::Precision => format!("Invalid date {b} - "),
                BoundError::Invalid => format!("Conversion failed when converting date '{b}'"),
            })
        })
    };
    let (start, end) = (bound(start)?, bound(end)?);
    let Some(at) = parse_stamp(value) else { return Ok(false) };
    Ok(start.is_none_or(|s| at >= s) && end.is_none_or(|e| at <= e))
}

/// The half-open window a relative keyword covers, in the instance's zone.
fn relative_window(keyword: &str, clock: &Clock) -> (Millis, Millis) {
    let today = clock.to_local(clock.now()).date_naive();
    let week_start = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
    let month_start = today.with_day(1).unwrap_or(today);
    let year_start = today.with_ordinal(1).unwrap_or(today);
    let (from, to) = match keyword {
        "today" => (today, today + Days::new(1)),
        "yesterday" => (today - Days::new(1), today),
        "this_week" => (week_start, week_start + Days::new(7)),
        "last_week" => (week_start - Days::new(7), week_start),
        "this_month" => (month_start, month_start + Months::new(1)),
        "last_month" => (month_start - Months::new(1), month_start),
        "this_year" => (year_start, year_start + Months::new(12)),
        _ => (year_start - Months::new(12), year_start),
    };
    let at_midnight = |d: NaiveDate| {
        let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        clock.offset().from_local_datetime(&naive).single().map_or(0, |at| at.timestamp_millis())
    };
    (at_midnight(from), at_midnight(to))
}

/// SQL-like pattern match, case-insensitive: `*` and `%` match any run, `_` one character,
/// `[abc]` one of a set. A pattern without wildcards is an exact match.
pub(crate) fn like(value: &str, pattern: &str) -> bool {
    let value: Vec<char> = value.chars().flat_map(char::to_lowercase).collect();
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    like_at(&value, &pattern)
}

fn like_at(value: &[char], pattern: &[char]) -> bool {
    let Some((&p, rest)) = pattern.split_first() else { return value.is_empty() };
    match p {
        '*' | '%' => (0..=value.len()).any(|skip| like_at(&value[skip..], rest)),
        '_' => !value.is_empty() && like_at(&value[1..], rest),
        '[' => {
            let Some(close) = rest.iter().position(|&c| c == ']') else {
                return value.first() == Some(&'[') && like_at(&value[1..], rest);
            };
            let set = &rest[..close];
            value.first().is_some_and(|c| set.contains(c))
                && like_at(&value[1..], &rest[close + 1..])
        }
        _ => value.first() == Some(&p) && like_at(&value[1..], rest),
    }
}

/// Orders two column values: numerically when both are integers, else case-insensitively.
pub(crate) fn compare_values(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => match (a.parse::<i64>(), b.parse::<i64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => lowercase(a).cmp(&lowercase(b)),
        },
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

fn lowercase(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_uppercase) { Cow::Owned(s.to_lowercase()) } else { Cow::Borrowed(s) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_field_is_or_and_different_fields_are_and() {
        let s = parse_search(r#"severity_id:1,severity_id:2,title:"a,b""#).expect("parses");
        assert_eq!(s.groups.len(), 2);
        assert_eq!(s.groups[0].terms, vec![Term::Equal("1".into()), Term::Equal("2".into())]);
        assert_eq!(s.groups[1].terms, vec![Term::Equal("a,b".into())]);
    }

    #[test]
    fn operators_parse() {
        let s = parse_search(
            r#"a~"x*",b!~"y*",c:!"z",d:is_null,e:is_not_null,f:(2025-01-01T00:00:00.000+01:00;),g:today"#,
        )
        .expect("parses");
        let terms: Vec<&Term> = s.groups.iter().map(|g| &g.terms[0]).collect();
        assert_eq!(terms[0], &Term::Like("x*".into()));
        assert_eq!(terms[1], &Term::NotLike("y*".into()));
        assert_eq!(terms[2], &Term::NotEqual("z".into()));
        assert_eq!(terms[3], &Term::IsNull);
        assert_eq!(terms[4], &Term::IsNotNull);
        assert_eq!(terms[5], &Term::Range("2025-01-01T00:00:00.000+01:00".into(), String::new()));
        assert_eq!(terms[6], &Term::Relative("today".into()));
    }

    #[test]
    fn garbage_does_not_parse() {
        for bad in [r#"title:"open"#, "title", "(x:1", "1abc:2", r#"a:"b"c""#] {
            assert!(parse_search(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn like_needs_wildcards() {
        assert!(like("Work station", "work*"));
        assert!(!like("Work station", "work"));
        assert!(like("I191002_000001", "*I19*"));
        assert!(like("abc", "a_c"));
        assert!(like("abc", "[xa]bc"));
        assert!(like("abc", "abc"));
    }

    #[test]
    fn wrong_sort_spellings_are_ignored() {
        let keys = parse_sort(Some("last_update desc,title,rfc_number:desc,-title,desc(title)"));
        assert_eq!(
            keys,
            vec![
                SortKey { field: "last_update".into(), descending: true },
                SortKey { field: "title".into(), descending: false },
            ]
        );
    }
}
