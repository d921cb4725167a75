//! The orders and results folders against real files in a temporary folder.

use std::path::Path;
use std::time::{Duration, SystemTime};

use ta_ports::{OrderSource, ResultRow, ResultSink};
use ta_usercube::{OrderFolder, ResultFolder};

/// Writes a file and dates it `seconds_ago` (whole seconds from a fixed moment), so ordering
/// does not depend on how long the test takes.
fn write_aged(path: &Path, content: &[u8], seconds_ago: u64) {
    static START: std::sync::OnceLock<SystemTime> = std::sync::OnceLock::new();
    let start = *START.get_or_init(SystemTime::now);
    std::fs::write(path, content).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(start - Duration::from_secs(seconds_ago)).unwrap();
}

fn names_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn row(assignment_id: &str, message: &str) -> ResultRow {
    ResultRow {
        assignment_id: assignment_id.to_owned(),
        provisioning_state: "Executed".to_owned(),
        message: message.to_owned(),
        change_type: "Added".to_owned(),
        owner_id: "21511".to_owned(),
        owner_type: "51".to_owned(),
    }
}

// === orders ===

#[tokio::test]
async fn pending_lists_json_files_oldest_first_then_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write_aged(&dir.path().join("c.json"), b"{\"n\":3}", 300);
    write_aged(&dir.path().join("b.json"), b"{\"n\":2}", 100);
    write_aged(&dir.path().join("a.json"), b"{\"n\":1}", 100);
    write_aged(&dir.path().join("d.JSON"), b"{\"n\":4}", 50);

    let pending = OrderFolder::new(dir.path()).pending().await.unwrap();

    let seen: Vec<(&str, &str)> =
        pending.iter().map(|d| (d.name.as_str(), d.text.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("c.json", "{\"n\":3}"),
            ("a.json", "{\"n\":1}"),
            ("b.json", "{\"n\":2}"),
            ("d.JSON", "{\"n\":4}")
        ]
    );
}

#[tokio::test]
async fn files_being_written_and_other_names_are_not_orders() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["x.json.tmp", "x.json.part", "notes.txt", ".json"] {
        write_aged(&dir.path().join(name), b"{}", 100);
    }
    std::fs::create_dir_all(dir.path().join("Completed")).unwrap();
    write_aged(&dir.path().join("Completed/old.json"), b"{}", 100);
    std::fs::create_dir(dir.path().join("folder.json")).unwrap();

    let pending = OrderFolder::new(dir.path()).pending().await.unwrap();

    assert_eq!(pending, []);
}

#[tokio::test]
async fn a_file_younger_than_the_settle_time_waits() {
    let dir = tempfile::tempdir().unwrap();
    write_aged(&dir.path().join("fresh.json"), b"{}", 0);
    write_aged(&dir.path().join("old.json"), b"{}", 60);

    let pending =
        OrderFolder::new(dir.path()).with_settle(Duration::from_secs(30)).pending().await.unwrap();

    assert_eq!(pending.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["old.json"]);
}

#[tokio::test]
async fn a_leading_byte_order_mark_is_not_part_of_the_text() {
    let dir = tempfile::tempdir().unwrap();
    write_aged(&dir.path().join("bom.json"), "\u{feff}{\"Owner\":\"Zoë\"}".as_bytes(), 10);

    let pending = OrderFolder::new(dir.path()).pending().await.unwrap();

    assert_eq!(pending[0].text, "{\"Owner\":\"Zoë\"}");
}

#[tokio::test]
async fn a_file_that_is_not_utf8_is_rejected_with_its_reason_instead_of_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    write_aged(&dir.path().join("latin1.json"), b"{\"Owner\":\"Zo\xEB\"}", 20);
    write_aged(&dir.path().join("good.json"), b"{}", 10);

    let pending = OrderFolder::new(dir.path()).pending().await.unwrap();

    assert_eq!(pending.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["good.json"]);
    let rejected = dir.path().join("Rejected");
    assert_eq!(names_in(&rejected), ["latin1.json", "latin1.json.error.txt"]);
    let reason = std::fs::read_to_string(rejected.join("latin1.json.error.txt")).unwrap();
    assert_eq!(reason, "not UTF-8 text (invalid byte at offset 12)\n");
}

#[tokio::test]
async fn acknowledge_moves_the_file_to_completed_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let folder = OrderFolder::new(dir.path());
    write_aged(&dir.path().join("orders.json"), b"first", 10);
    folder.acknowledge("orders.json").await.unwrap();
    write_aged(&dir.path().join("orders.json"), b"second", 5);

    folder.acknowledge("orders.json").await.unwrap();

    assert!(folder.pending().await.unwrap().is_empty());
    let completed = dir.path().join("Completed");
    let names = names_in(&completed);
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(std::fs::read_to_string(completed.join("orders.json")).unwrap(), "first");
    let renamed = names.iter().find(|n| *n != "orders.json").unwrap();
    assert!(renamed.starts_with("orders.") && renamed.ends_with("Z.json"), "{renamed}");
    assert_eq!(std::fs::read_to_string(completed.join(renamed)).unwrap(), "second");
}

#[tokio::test]
async fn reject_moves_the_file_aside_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let folder = OrderFolder::new(dir.path());
    write_aged(&dir.path().join("broken.json"), b"{not json", 10);

    folder
        .reject("broken.json", "order file broken.json is not JSON: key must be a string at line 1")
        .await
        .unwrap();

    assert!(folder.pending().await.unwrap().is_empty());
    let rejected = dir.path().join("Rejected");
    assert_eq!(names_in(&rejected), ["broken.json", "broken.json.error.txt"]);
    assert_eq!(std::fs::read_to_string(rejected.join("broken.json")).unwrap(), "{not json");
    assert_eq!(
        std::fs::read_to_string(rejected.join("broken.json.error.txt")).unwrap(),
        "order file broken.json is not JSON: key must be a string at line 1\n"
    );
}

#[tokio::test]
async fn a_second_rejection_of_the_same_name_keeps_both_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let folder = OrderFolder::new(dir.path());
    write_aged(&dir.path().join("x.json"), b"one", 10);
    folder.reject("x.json", "first reason").await.unwrap();
    write_aged(&dir.path().join("x.json"), b"two", 10);

    folder.reject("x.json", "second reason").await.unwrap();

    let rejected = dir.path().join("Rejected");
    let names = names_in(&rejected);
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(
        std::fs::read_to_string(rejected.join("x.json.error.txt")).unwrap(),
        "first reason\n"
    );
    let second = names.iter().find(|n| n.ends_with("Z.json")).unwrap();
    assert_eq!(std::fs::read_to_string(rejected.join(second)).unwrap(), "two");
    assert_eq!(
        std::fs::read_to_string(rejected.join(format!("{second}.error.txt"))).unwrap(),
        "second reason\n"
    );
}

#[tokio::test]
async fn unknown_or_unsafe_delivery_names_are_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let folder = OrderFolder::new(dir.path());

    let missing = folder.acknowledge("missing.json").await.unwrap_err();
    assert!(missing.location.ends_with("missing.json"), "{missing}");
    let escape = folder.reject("../outside.json", "x").await.unwrap_err();
    assert!(escape.reason.contains("not a file name"), "{escape}");
    assert!(!dir.path().join("Rejected/...json.error.txt").exists());

    let absent = OrderFolder::new(dir.path().join("nowhere")).pending().await.unwrap_err();
    assert!(absent.location.ends_with("nowhere"), "{absent}");
}

// === results ===

#[tokio::test]
async fn results_are_one_csv_file_with_rfc4180_quoting() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ResultFolder::new(dir.path(), "EasyVistaManual");
    let rows = [
        row("3930001", "ticket I260101_000001 closed"),
        ResultRow {
            provisioning_state: "Error".into(),
            ..row("3930002", "canceled, by \"Jane\"\nsee ticket")
        },
        row("3930003", "clôturé — Zoë 日本"),
        row("3930004", ""),
    ];

    let published = sink.publish(&sink.next_batch(), &rows).await.unwrap();

    let name = Path::new(&published.location).file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("EasyVistaManual_results_") && name.ends_with(".csv"), "{name}");
    assert_eq!(names_in(dir.path()), [name], "no temporary file is left");
    let content = std::fs::read_to_string(&published.location).unwrap();
    assert_eq!(
        content,
        "AssignmentId,ProvisioningState,Message,ChangeType,OwnerId,OwnerType\r\n\
         3930001,Executed,ticket I260101_000001 closed,Added,21511,51\r\n\
         3930002,Error,\"canceled, by \"\"Jane\"\"\nsee ticket\",Added,21511,51\r\n\
         3930003,Executed,clôturé — Zoë 日本,Added,21511,51\r\n\
         3930004,Executed,,Added,21511,51\r\n"
    );
}

#[tokio::test]
async fn each_publish_gets_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ResultFolder::new(dir.path().join("results"), "Easy Vista/1");

    let first = sink.publish(&sink.next_batch(), &[row("1", "a")]).await.unwrap();
    let second = sink.publish(&sink.next_batch(), &[row("2", "b")]).await.unwrap();

    assert_ne!(first.location, second.location);
    let names = names_in(&dir.path().join("results"));
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| n.starts_with("Easy_Vista_1_results_")), "{names:?}");
}

#[tokio::test]
async fn a_batch_published_again_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ResultFolder::new(dir.path(), "EasyVistaManual");
    let batch = sink.next_batch();

    let first = sink.publish(&batch, &[row("1", "a")]).await.unwrap();
    let again = sink.publish(&batch, &[row("1", "a")]).await.unwrap();

    assert_eq!(first.location, again.location);
    assert_eq!(names_in(dir.path()).len(), 1);
    let content = std::fs::read_to_string(&first.location).unwrap();
    assert_eq!(content.lines().count(), 2, "header and one row, written once: {content}");
}

#[tokio::test]
async fn a_batch_name_cannot_leave_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ResultFolder::new(dir.path().join("results"), "EasyVistaManual");
    let error = sink.publish("../escape.csv", &[row("1", "a")]).await.unwrap_err();
    assert!(error.reason.contains("not a result batch name"), "{error}");
    assert!(!dir.path().join("escape.csv").exists());
}

#[tokio::test]
async fn publishing_no_rows_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();

    let sink = ResultFolder::new(dir.path(), "EasyVistaManual");
    let published = sink.publish(&sink.next_batch(), &[]).await.unwrap();

    assert_eq!(published.location, "");
    assert!(names_in(dir.path()).is_empty());
}

#[tokio::test]
async fn a_failed_publish_leaves_no_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("results");
    std::fs::write(&blocker, "a file where the folder should be").unwrap();

    let sink = ResultFolder::new(&blocker, "EasyVistaManual");
    let error = sink.publish(&sink.next_batch(), &[row("1", "a")]).await.unwrap_err();

    assert_eq!(error.location, blocker.display().to_string());
    assert_eq!(names_in(dir.path()), ["results"]);
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "a file where the folder should be");
}

#[tokio::test]
async fn result_files_are_not_taken_for_order_files() {
    let dir = tempfile::tempdir().unwrap();
    let sink = ResultFolder::new(dir.path(), "EasyVistaManual");
    sink.publish(&sink.next_batch(), &[row("1", "a")]).await.unwrap();
    write_aged(&dir.path().join(".results-1-1.csv.tmp"), b"partial", 10);

    assert!(OrderFolder::new(dir.path()).pending().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_orders_folder_is_named_with_its_setting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("orders/EasyVistaManual");
    let error = OrderFolder::new(&missing).pending().await.unwrap_err();
    assert_eq!(error.location, missing.display().to_string());
    assert!(error.reason.contains("does not exist (setting OrdersPath)"), "{error}");
}
