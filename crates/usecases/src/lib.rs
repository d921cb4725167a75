//! ticket-agent's use cases: take orders in and open their tickets (fulfill), follow the
//! tickets and report provisioning states (sync), copy reference data out (export), and show
//! what an order file would open without contacting anything (render).
//!
//! Architecture invariant: this crate orchestrates ports and domain rules only; it knows no
//! adapter, no file system, no HTTP and no database.

pub mod draft;
pub mod export;
pub mod fulfill;
pub mod mappings;
pub mod render;
pub mod results;
pub mod stop;
pub mod sync;

pub use draft::{DraftSettings, draft_for};
pub use export::{
    Export, ExportEntity, ExportError, ExportOptions, ExportProgress, ExportReport, ExportSettings,
    ExportedTable, NoProgress,
};
pub use fulfill::{Fulfill, FulfillReport};
pub use mappings::{MappingSet, PreparedMapping};
pub use render::{RenderedOrder, render_file};
pub use results::publish_results;
pub use stop::StopSignal;
pub use sync::{Sync, SyncReport, SyncSettings};
