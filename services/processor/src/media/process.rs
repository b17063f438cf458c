//! Running ffprobe/ffmpeg: the child dies with its future (`kill_on_drop`), on timeout and on
//! cancellation; stdout is handed over line by line while it runs (ffmpeg's `-progress`), and
//! the last lines of stderr are kept for the error message. A run can be paused (SIGSTOP) and
//! resumed (SIGCONT) from outside: the publisher does so when ffmpeg writes output faster than
//! it can be uploaded, so the disk holds a bounded backlog.
//!
//! A run that fails keeps how the child ended (its `ExitStatus`), which tells a damaged source
//! ([`DECODE_ERRORS_EXIT`], not retried) from a child that was killed or failed otherwise
//! (retried); a program that is not installed has its own error, checked at start-up
//! ([`require`]).

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::MediaError;

/// ffmpeg's exit status when more of the frames than `-max_error_rate` (2/3 by default) could
/// not be decoded. ffmpeg goes on past single bad frames; this is a source mostly undecodable.
pub const DECODE_ERRORS_EXIT: i32 = 69;
/// How long `-version` may take.
const REQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
const STDERR_TAIL_LINES: usize = 20;
const STDERR_TAIL_BYTES: usize = 4096;

/// What a successful run printed.
#[derive(Debug, Default)]
pub struct Finished {
    pub stdout: String,
}

/// How a run ends early or waits, from outside.
#[derive(Debug, Clone)]
pub struct Control<'a> {
    pub cancel: &'a CancellationToken,
    pub timeout: Duration,
    /// While true, the child is stopped.
    pub pause: Option<watch::Receiver<bool>>,
}

impl<'a> Control<'a> {
    pub fn new(cancel: &'a CancellationToken, timeout: Duration) -> Self {
        Self {
            cancel,
            timeout,
            pause: None,
        }
    }

    pub fn pausable(mut self, pause: watch::Receiver<bool>) -> Self {
        self.pause = Some(pause);
        self
    }
}

/// Runs `command` to completion. `on_line` sees each stdout line as it comes; stdout is also
/// returned whole when `keep_stdout` is set (ffprobe's JSON).
pub async fn run(
    command: Command,
    what: &str,
    timeout: Duration,
    cancel: &CancellationToken,
    keep_stdout: bool,
    on_line: impl FnMut(&str) + Send,
) -> Result<Finished, MediaError> {
    run_with(
        command,
        what,
        Control::new(cancel, timeout),
        keep_stdout,
        on_line,
    )
    .await
}

/// [`run`], pausable.
pub async fn run_with(
    mut command: Command,
    what: &str,
    control: Control<'_>,
    keep_stdout: bool,
    mut on_line: impl FnMut(&str) + Send,
) -> Result<Finished, MediaError> {
    let Control {
        cancel,
        timeout,
        pause,
    } = control;
    let mut child = spawn(&mut command, what)?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stderr_task = tokio::spawn(async move {
        match stderr {
            Some(stderr) => tail(stderr).await,
            None => String::new(),
        }
    });
    let run = async {
        let kept = read_stdout(stdout, keep_stdout, &mut on_line).await;
        let status = child.wait().await;
        (kept, status)
    };
    let (kept, status) = tokio::select! {
        done = run => done,
        never = relay_pauses(pause, pid, what) => match never {},
        _ = tokio::time::sleep(timeout) => {
            return Err(MediaError::Timeout { what: what.to_owned(), after: timeout });
        }
        _ = cancel.cancelled() => return Err(MediaError::Canceled),
    };
    let stderr_tail = stderr_task.await.unwrap_or_default();
    let status = status?;
    if status.success() {
        Ok(Finished { stdout: kept })
    } else {
        Err(exit_error(what, status, stderr_tail))
    }
}

/// Fails unless `program` runs (`program -version`): a processor without ffmpeg or ffprobe
/// must not start, only to fail every job it claims.
pub async fn require(program: &str) -> Result<(), MediaError> {
    let mut command = Command::new(program);
    command.arg("-version");
    let cancel = CancellationToken::new();
    run(command, program, REQUIRE_TIMEOUT, &cancel, false, |_| {}).await?;
    Ok(())
}

/// A child that ended unsuccessfully, classified by how it ended.
fn exit_error(what: &str, status: ExitStatus, stderr_tail: String) -> MediaError {
    let what = what.to_owned();
    if status.code() == Some(DECODE_ERRORS_EXIT) {
        MediaError::Undecodable {
            what,
            status,
            stderr_tail,
        }
    } else {
        MediaError::Failed {
            what,
            status,
            stderr_tail,
        }
    }
}

/// Starts the child with its output piped, to die with its future.
fn spawn(command: &mut Command, what: &str) -> Result<Child, MediaError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command.spawn().map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => MediaError::Missing {
            program: command
                .as_std()
                .get_program()
                .to_string_lossy()
                .into_owned(),
        },
        _ => MediaError::Spawn {
            what: what.to_owned(),
            source,
        },
    })
}

/// Hands each stdout line to `on_line` until the stream ends; returns it whole if `keep`.
async fn read_stdout(
    stdout: Option<ChildStdout>,
    keep: bool,
    on_line: &mut (impl FnMut(&str) + Send),
) -> String {
    let mut kept = String::new();
    if let Some(stdout) = stdout {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            on_line(&line);
            if keep {
                kept.push_str(&line);
                kept.push('\n');
            }
        }
    }
    kept
}

/// Stops (SIGSTOP) and resumes (SIGCONT) the child as `pause` says, until dropped. Signals go
/// only while the child is ours to wait for (this runs beside its wait): its pid cannot have
/// been reused.
async fn relay_pauses(
    pause: Option<watch::Receiver<bool>>,
    pid: Option<Pid>,
    what: &str,
) -> std::convert::Infallible {
    if let (Some(mut pause), Some(pid)) = (pause, pid) {
        while pause.changed().await.is_ok() {
            let paused = *pause.borrow_and_update();
            let signal = if paused {
                Signal::SIGSTOP
            } else {
                Signal::SIGCONT
            };
            if let Err(err) = kill(pid, signal) {
                tracing::warn!(error = %err, paused, "cannot pause or resume {what}");
            }
        }
        // Whoever paused it is gone: never leave it stopped.
        let _ = kill(pid, Signal::SIGCONT);
    }
    std::future::pending().await
}

/// The last lines of a stream, bounded in lines and bytes, whatever its length.
async fn tail(stream: impl AsyncRead + Unpin) -> String {
    let mut lines = BufReader::new(stream).lines();
    let mut kept: VecDeque<String> = VecDeque::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut line = line;
        if line.len() > STDERR_TAIL_BYTES {
            let mut cut = STDERR_TAIL_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        kept.push_back(line);
        if kept.len() > STDERR_TAIL_LINES {
            kept.pop_front();
        }
    }
    let mut text: String = kept.into_iter().collect::<Vec<_>>().join("\n");
    if text.len() > STDERR_TAIL_BYTES {
        let mut start = text.len() - STDERR_TAIL_BYTES;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text = text[start..].to_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};

    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[tokio::test]
    async fn failure_carries_the_stderr_tail() {
        let cancel = CancellationToken::new();
        let err = run(
            sh("for i in $(seq 1 50); do echo line$i >&2; done; exit 3"),
            "sh",
            Duration::from_secs(10),
            &cancel,
            false,
            |_| {},
        )
        .await
        .expect_err("must fail");
        let text = err.to_string();
        assert!(text.contains("line50"), "{text}");
        assert!(!text.contains("line20\n"), "only the tail is kept: {text}");
    }

    async fn failure(script: &str) -> MediaError {
        run(
            sh(script),
            "sh",
            Duration::from_secs(10),
            &CancellationToken::new(),
            false,
            |_| {},
        )
        .await
        .expect_err("the script fails")
    }

    #[tokio::test]
    async fn a_child_killed_by_a_signal_is_worth_retrying() {
        let err = failure("kill -9 $$").await;
        let MediaError::Failed { status, .. } = &err else {
            panic!("a killed child is a failure: {err:?}");
        };
        assert_eq!(status.signal(), Some(9), "{status}");
        assert!(err.is_transient() && !err.is_permanent(), "{err}");
    }

    #[tokio::test]
    async fn an_error_exit_keeps_its_status_and_is_worth_retrying() {
        let err = failure("echo cannot reach the source >&2; exit 1").await;
        let MediaError::Failed { status, .. } = &err else {
            panic!("an error exit is a failure: {err:?}");
        };
        assert_eq!(status.code(), Some(1));
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("cannot reach the source"), "{err}");
    }

    #[tokio::test]
    async fn too_many_decode_errors_are_permanent() {
        let err = failure(&format!("exit {DECODE_ERRORS_EXIT}")).await;
        assert!(
            matches!(&err, MediaError::Undecodable { status, .. } if status.code() == Some(DECODE_ERRORS_EXIT)),
            "{err:?}"
        );
        assert!(err.is_permanent() && !err.is_transient(), "{err}");
    }

    #[tokio::test]
    async fn a_missing_program_is_named_and_fails_the_start_up_check() {
        let err = require("vodnest-no-such-program")
            .await
            .expect_err("not installed");
        assert!(
            matches!(&err, MediaError::Missing { program } if program == "vodnest-no-such-program"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "cannot find vodnest-no-such-program on PATH"
        );
        require("ffmpeg").await.expect("ffmpeg is installed");
        require("ffprobe").await.expect("ffprobe is installed");
    }

    #[tokio::test]
    async fn a_paused_child_stops_until_resumed() {
        let cancel = CancellationToken::new();
        let (pause, paused) = watch::channel(false);
        let seen = std::sync::Mutex::new(Vec::<std::time::Instant>::new());
        // Counts quickly; paused for 600 ms once it has printed its third line.
        let running = run_with(
            sh("i=0; while [ $i -lt 30 ]; do echo $i; i=$((i+1)); sleep 0.02; done"),
            "sh",
            Control::new(&cancel, Duration::from_secs(10)).pausable(paused),
            false,
            |_| {
                let mut seen = seen.lock().expect("lock");
                seen.push(std::time::Instant::now());
                if seen.len() == 3 {
                    pause.send_replace(true);
                }
            },
        );
        let resume = async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            pause.send_replace(false);
        };
        let (done, ()) = tokio::join!(running, resume);
        done.expect("runs to the end once resumed");
        let seen = seen.into_inner().expect("lock");
        assert_eq!(seen.len(), 30);
        let longest = seen.windows(2).map(|w| w[1] - w[0]).max().expect("gaps");
        assert!(longest >= Duration::from_millis(300), "{longest:?}");
    }

    #[tokio::test]
    async fn stdout_lines_are_seen_as_they_come() {
        let cancel = CancellationToken::new();
        let mut seen = Vec::new();
        let done = run(
            sh("echo a; echo b"),
            "sh",
            Duration::from_secs(10),
            &cancel,
            true,
            |line| seen.push(line.to_owned()),
        )
        .await
        .expect("runs");
        assert_eq!(seen, ["a", "b"]);
        assert_eq!(done.stdout, "a\nb\n");
    }

    #[tokio::test]
    async fn timeout_and_cancel_stop_the_child() {
        let cancel = CancellationToken::new();
        let started = Instant::now();
        let err = run(
            sh("sleep 30"),
            "sleep",
            Duration::from_millis(200),
            &cancel,
            false,
            |_| {},
        )
        .await
        .expect_err("times out");
        assert!(matches!(err, MediaError::Timeout { .. }), "{err}");
        assert!(err.is_transient(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));

        let canceller = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            canceller.cancel();
        });
        let started = Instant::now();
        let err = run(
            sh("sleep 30"),
            "sleep",
            Duration::from_secs(60),
            &cancel,
            false,
            |_| {},
        )
        .await
        .expect_err("canceled");
        assert!(matches!(err, MediaError::Canceled), "{err}");
        assert!(!err.is_transient() && !err.is_permanent(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
