use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tempfile::TempDir;
use tokio::process::Command;

/// Guards against a hung provider, not a performance bound: an apply against an emulator takes
/// one to three minutes.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15 * 60);

const DESTROY: &[&str] = &["destroy", "-auto-approve", "-input=false", "-no-color"];

/// One Terraform root of `infra/terraform/environments/`, with its own data directory and
/// state file in a scratch directory, so tests never touch the dev script's state.
pub struct Terraform {
    root: PathBuf,
    scratch: TempDir,
    vars: Vec<String>,
    envs: Vec<(String, String)>,
    destroy_on_drop: bool,
    applied: bool,
}

/// The outputs of an applied root: `{name: {value, ...}}`.
pub struct Outputs(Value);

impl Outputs {
    /// The value of one output, as a string.
    pub fn string(&self, name: &str) -> Result<String> {
        self.value(name)?
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("output {name} is not a string: {}", self.0))
    }

    /// The value of one output, whatever its type.
    pub fn value(&self, name: &str) -> Result<&Value> {
        self.0
            .get(name)
            .map(|output| &output["value"])
            .with_context(|| format!("no output {name}: {}", self.0))
    }
}

/// A resource of the applied state, as `terraform show -json` describes it.
#[derive(Debug, Clone)]
pub struct Resource {
    pub address: String,
    pub kind: String,
    pub values: Value,
}

impl Terraform {
    pub fn root(environment: &str) -> Result<Self> {
        let root = vodnest_testkit::repo_root()
            .join("infra/terraform/environments")
            .join(environment);
        if !root.is_dir() {
            bail!("no Terraform root at {}", root.display());
        }
        Ok(Self {
            root,
            scratch: tempfile::tempdir()?,
            vars: Vec::new(),
            envs: Vec::new(),
            destroy_on_drop: false,
            applied: false,
        })
    }

    /// The roots under `infra/terraform/environments/`.
    pub fn environments() -> Result<Vec<String>> {
        let dir = vodnest_testkit::repo_root().join("infra/terraform/environments");
        let mut names = Vec::new();
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push(format!("{name}={value}"));
        self
    }

    /// Gives `name` a new value for the next commands (a second apply with other settings).
    pub fn set_var(&mut self, name: &str, value: &str) {
        let assignment = format!("{name}=");
        self.vars.retain(|var| !var.starts_with(&assignment));
        self.vars.push(format!("{name}={value}"));
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.into(), value.into()));
        self
    }

    /// Destroys what was applied when dropped before [`Terraform::destroy`] ran (a failed
    /// assertion), for emulators that outlive the test such as the shared LocalStack.
    pub fn destroy_on_drop(mut self) -> Self {
        self.destroy_on_drop = true;
        self
    }

    fn state(&self) -> PathBuf {
        self.scratch.path().join("terraform.tfstate")
    }

    fn command<S: AsRef<str>>(&self, args: &[S]) -> std::process::Command {
        let mut command = std::process::Command::new("terraform");
        command
            .arg(format!("-chdir={}", self.root.display()))
            .args(args.iter().map(AsRef::as_ref))
            .env("TF_DATA_DIR", self.scratch.path().join("data"))
            .env("TF_IN_AUTOMATION", "1")
            .envs(self.envs.iter().map(|(k, v)| (k, v)));
        command
    }

    /// `args` followed by the state file and every `-var`.
    fn with_vars(&self, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.push(format!("-state={}", self.state().display()));
        for var in &self.vars {
            all.push("-var".into());
            all.push(var.clone());
        }
        all
    }

    /// Runs terraform; its stdout, or an error carrying the end of its output.
    pub async fn run<S: AsRef<str>>(&self, args: &[S]) -> Result<String> {
        let mut command = Command::from(self.command(args));
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
            .await
            .with_context(|| format!("terraform {} hung", args[0].as_ref()))?
            .context("running terraform (is it installed? ./dev installs what it needs)")?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!(
                "terraform {} in {} failed ({}):\n{}\n{}",
                args.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" "),
                self.root.display(),
                output.status,
                tail(&stdout, 40),
                tail(&stderr, 40)
            );
        }
        Ok(stdout)
    }

    pub async fn init(&self) -> Result<()> {
        self.run(&["init", "-input=false", "-no-color", "-backend=false"])
            .await
            .map(drop)
    }

    pub async fn validate(&self) -> Result<()> {
        self.run(&["validate", "-no-color"]).await.map(drop)
    }

    pub async fn apply(&mut self) -> Result<()> {
        self.applied = true;
        self.run(&self.with_vars(&["apply", "-auto-approve", "-input=false", "-no-color"]))
            .await
            .map(drop)
    }

    /// What an apply would do to `addresses` (and what they depend on), as `terraform show
    /// -json` describes a plan: without applying it, as moto's read-back drifts elsewhere (it
    /// rereads CloudFront's public key differently, and never finishes updating a key group).
    pub async fn plan_only(&self, addresses: &[&str]) -> Result<Value> {
        let plan = self.scratch.path().join("plan");
        let out = format!("-out={}", plan.display());
        let targets: Vec<String> = addresses.iter().map(|a| format!("-target={a}")).collect();
        let mut args = vec!["plan", "-input=false", "-no-color", out.as_str()];
        args.extend(targets.iter().map(String::as_str));
        self.run(&self.with_vars(&args)).await?;
        let json = self
            .run(&["show", "-json", &plan.to_string_lossy()])
            .await?;
        Ok(serde_json::from_str(&json)?)
    }

    pub async fn destroy(&mut self) -> Result<()> {
        self.run(&self.with_vars(DESTROY)).await?;
        self.applied = false;
        Ok(())
    }

    /// Removes `address` from the state without destroying it: for what an emulator can create
    /// but not delete (moto has no DeleteKeyGroup).
    pub async fn forget(&self, address: &str) -> Result<()> {
        let state = format!("-state={}", self.state().display());
        self.run(&["state", "rm", &state, address]).await.map(drop)
    }

    /// `terraform output -json` of the applied state.
    pub async fn outputs(&self) -> Result<Outputs> {
        let state = format!("-state={}", self.state().display());
        let json = self.run(&["output", "-json", &state]).await?;
        Ok(Outputs(serde_json::from_str(&json)?))
    }

    /// Every managed resource of the applied state, modules included.
    pub async fn resources(&self) -> Result<Vec<Resource>> {
        let state = self.state();
        let json = self
            .run(&["show", "-json", &state.to_string_lossy()])
            .await?;
        let shown: Value = serde_json::from_str(&json)?;
        let mut found = Vec::new();
        collect(&shown["values"]["root_module"], &mut found);
        Ok(found)
    }
}

impl Drop for Terraform {
    fn drop(&mut self) {
        if self.applied && self.destroy_on_drop {
            let _ = self
                .command(&self.with_vars(DESTROY))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn collect(module: &Value, found: &mut Vec<Resource>) {
    for resource in module["resources"].as_array().into_iter().flatten() {
        if resource["mode"] == "managed" {
            found.push(Resource {
                address: resource["address"].as_str().unwrap_or_default().to_owned(),
                kind: resource["type"].as_str().unwrap_or_default().to_owned(),
                values: resource["values"].clone(),
            });
        }
    }
    for child in module["child_modules"].as_array().into_iter().flatten() {
        collect(child, found);
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
