//! vodnest's end-to-end tests, in one binary: every test binary links the AWS SDK, the API and
//! the processor again, so the modules share one link. The harness is the crate's library
//! (`tests/e2e/src`); run one module with `cargo test -p vodnest-e2e -- uploads::`.

mod accounts;
mod browser_safety;
mod captions;
mod chapters;
mod chunked_playback;
mod clips;
mod connections;
mod downloads;
mod encoding_progress;
mod failures;
mod fuzzing;
mod growing_uploads;
mod library_page;
mod limits;
mod metrics;
mod odd_inputs;
mod openapi;
mod owner_panel;
mod private_playback;
mod progressive;
mod public_viewing;
mod sign_in;
mod traces;
mod trim;
mod upload_page;
mod upload_to_playback;
mod uploads;
mod webhooks;
mod websocket;
