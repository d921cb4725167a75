//! Identity Manager's file side of the agent: order files taken from a folder, result CSV files
//! published into another, exported tables written for synchronization. Nothing here parses
//! orders; only an export replaces a file, and only its own table, once the new one is complete.

mod export;
mod files;
mod orders;
mod results;

pub use export::ExportFolder;
pub use orders::{COMPLETED_FOLDER, OrderFolder, REJECTED_FOLDER};
pub use results::{RESULT_HEADER, ResultFolder};
