//! Sharing the cache between machines: a remote cache over plain HTTP
//! (`remote`, `objects`), signatures on realisations (`trust`, `keys`), and
//! the settings that name them (`settings`).
//!
//! Nothing here can fail a run: a remote that is down, slow, refusing or
//! lying is a [`RemoteError`], which callers turn into a warning.

pub mod internal;
pub mod keys;
pub mod objects;
pub mod remote;
pub mod remote_error;
pub mod settings;
pub mod trust;

#[allow(unused_imports)]
pub use objects::{Stats, Wanted, cas_path};
#[allow(unused_imports)]
pub use remote::{Remote, Timeouts};
#[allow(unused_imports)]
pub use remote_error::{Failure, RemoteError};
#[allow(unused_imports)]
pub use settings::Sharing;
#[allow(unused_imports)]
pub use trust::{PublicKey, SecretKey, sign, verify};
