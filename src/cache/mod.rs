//! Sharing the cache between machines: a remote cache over plain HTTP
//! (`remote`, `objects`), signatures on realisations (`trust`, `keys`), and
//! the settings that name them (`settings`).
//!
//! Nothing here can fail a run: a remote that is down, slow, refusing or
//! lying is a [`remote_error::RemoteError`], which callers turn into a
//! warning.

pub mod internal;
pub mod keys;
pub mod objects;
pub mod remote;
pub mod remote_error;
pub mod settings;
pub mod sync;
pub mod trust;
