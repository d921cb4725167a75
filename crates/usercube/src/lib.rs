//! Identity Manager's file side of the agent: order files taken from a folder, result CSV files
//! published into another. Nothing here parses orders, and no file is ever deleted or replaced.

mod files;
mod orders;
mod results;

pub use orders::{COMPLETED_FOLDER, OrderFolder, REJECTED_FOLDER};
pub use results::{RESULT_HEADER, ResultFolder};
