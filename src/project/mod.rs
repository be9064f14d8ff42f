//! `project.yaml`: parsing, validation, and the expanded command of each action.

mod model;

pub use model::{Action, Location, PrivacyLevel, Project};
