//! `minik pause`, run before any async runtime or logging starts, in one of three roles:
//! - the sandbox holder (default): unshares the pod's network, IPC and UTS namespaces (as told by
//!   the environment), sets the hostname, says `ready`, then sleeps, reaping children, until
//!   SIGTERM/SIGINT;
//! - the container shim (`MINIK_SHIM=<container dir>`): joins the sandbox's namespaces, builds the
//!   container's mount namespace and root, applies cgroup limits, runs the command with its output
//!   in the CRI log, and records when it started and how it ended;
//! - the exec helper (`MINIK_EXEC_IN_ROOT=<json>`): chroot, chdir, exec.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal};

use crate::crilog::{self, Stream};
use crate::runtime::process::{
    container_env, exit_code, read_json, write_json, ContainerRecord, ExecInRoot, ExitRecord, ProcessRef,
    StartedRecord, EXEC_ENV, HOSTNAME_ENV, NAMESPACES_ENV, SHIM_ENV,
};
use crate::NodeAgentError;

/// The body of `minik pause`.
pub fn pause_main() -> Result<(), NodeAgentError> {
    if let Some(dir) = std::env::var_os(SHIM_ENV) {
        return shim(PathBuf::from(dir));
    }
    if let Some(spec) = std::env::var_os(EXEC_ENV) {
        let spec: ExecInRoot = serde_json::from_str(&spec.to_string_lossy())
            .map_err(|e| NodeAgentError::Failed(format!("bad {EXEC_ENV}: {e}")))?;
        return Err(exec_in_root(spec));
    }
    holder()
}

fn failed(what: &str, e: impl std::fmt::Display) -> NodeAgentError {
    NodeAgentError::Failed(format!("{what}: {e}"))
}

fn holder() -> Result<(), NodeAgentError> {
    let wanted = std::env::var(NAMESPACES_ENV).unwrap_or_default();
    let mut flags = CloneFlags::empty();
    for ns in wanted.split(',').filter(|s| !s.is_empty()) {
        flags |= match ns {
            "net" => CloneFlags::CLONE_NEWNET,
            "ipc" => CloneFlags::CLONE_NEWIPC,
            "uts" => CloneFlags::CLONE_NEWUTS,
            "pid" => CloneFlags::CLONE_NEWPID,
            other => return Err(NodeAgentError::Failed(format!("unknown namespace {other}"))),
        };
    }
    let mut out = std::io::stdout();
    if !flags.is_empty() {
        if let Err(e) = nix::sched::unshare(flags) {
            let _ = writeln!(out, "error: cannot create the pod's namespaces: {e}");
            return Err(failed("unshare", e));
        }
        if flags.contains(CloneFlags::CLONE_NEWUTS) {
            if let Ok(h) = std::env::var(HOSTNAME_ENV) {
                let _ = nix::unistd::sethostname(h);
            }
        }
    }
    // A new PID namespace holds only children: start one (this binary again, without namespaces
    // to make) as its PID 1, which reaps what the pod's processes leave behind.
    let mut pid_init = None;
    if flags.contains(CloneFlags::CLONE_NEWPID) {
        let exe = std::env::current_exe().map_err(|e| failed("find myself", e))?;
        let child =
            Command::new(exe).arg("pause").env(NAMESPACES_ENV, "").stdin(Stdio::null()).stdout(Stdio::piped()).spawn();
        match child {
            Ok(mut c) => {
                let mut line = String::new();
                if let Some(o) = c.stdout.take() {
                    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(o), &mut line);
                }
                pid_init = Some(c.id());
            }
            Err(e) => {
                let _ = writeln!(out, "error: cannot start the PID namespace's init: {e}");
                return Err(failed("start the pid init", e));
            }
        }
    }
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD, Signal::SIGHUP] {
        signals.add(s);
    }
    signals.thread_block().map_err(|e| failed("block signals", e))?;
    match pid_init {
        Some(pid) => {
            let _ = writeln!(out, "ready {pid}");
        }
        None => {
            let _ = writeln!(out, "ready");
        }
    }
    let _ = out.flush();
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => reap(),
            Ok(Signal::SIGTERM | Signal::SIGINT) => return Ok(()),
            _ => {}
        }
    }
}

fn reap() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

fn exec_in_root(spec: ExecInRoot) -> NodeAgentError {
    if let Some(root) = &spec.root {
        if spec.fresh_proc {
            // This process is in the pod's PID namespace: show it its own processes.
            let proc_dir = root.join("proc");
            let _ = nix::mount::umount2(&proc_dir, nix::mount::MntFlags::MNT_DETACH);
            if let Err(e) = mount(Some("proc"), &proc_dir, Some("proc"), MsFlags::empty(), None::<&str>) {
                eprintln!("cannot mount /proc: {e}");
            }
        }
        if let Err(e) = nix::unistd::chroot(root) {
            return failed("chroot", e);
        }
        let cwd = spec.cwd.clone().unwrap_or_else(|| "/".into());
        if let Err(e) = std::env::set_current_dir(&cwd) {
            eprintln!("cannot enter working directory {cwd}: {e}");
            std::process::exit(128);
        }
    }
    let Some((prog, args)) = spec.argv.split_first() else { return NodeAgentError::Failed("empty command".into()) };
    let err = Command::new(prog).args(args).env_remove(EXEC_ENV).exec();
    eprintln!("exec {prog}: {err}");
    std::process::exit(if err.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
}

fn shim(dir: PathBuf) -> Result<(), NodeAgentError> {
    let rec: ContainerRecord = read_json(&dir.join("container.json"))
        .ok_or_else(|| NodeAgentError::Failed(format!("no container record in {}", dir.display())))?;
    let result = run_container(&dir, &rec);
    if let Err(message) = result {
        let exit = ExitRecord {
            exit_code: 128,
            finished_at: Timestamp::now(),
            oom_killed: false,
            message: Some(message.clone()),
        };
        let _ = write_json(&dir.join("exit.json"), &exit);
        return Err(NodeAgentError::Failed(message));
    }
    Ok(())
}

fn run_container(dir: &Path, rec: &ContainerRecord) -> Result<(), String> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&rec.log_path)
        .map_err(|e| format!("cannot open the log {}: {e}", rec.log_path.display()))?;
    let cgroup = Cgroup::setup(&rec.id, rec.memory_limit, rec.cpu_millis);
    if let Some(pause) = rec.join {
        if !pause.alive() {
            return Err("the pod sandbox is gone".into());
        }
        for (ns, flag) in
            [("ipc", CloneFlags::CLONE_NEWIPC), ("uts", CloneFlags::CLONE_NEWUTS), ("net", CloneFlags::CLONE_NEWNET)]
        {
            let f = File::open(format!("/proc/{}/ns/{ns}", pause.pid))
                .map_err(|e| format!("cannot open the {ns} namespace: {e}"))?;
            nix::sched::setns(f, flag).map_err(|e| format!("cannot join the pod's {ns} namespace: {e}"))?;
        }
    }
    let root = if rec.isolated { Some(build_root(dir, rec)?) } else { None };
    let self_exe = std::env::current_exe().map_err(|e| format!("cannot find the minik binary: {e}"))?;
    let mut cmd = if root.is_some() {
        let mut c = Command::new(&self_exe);
        c.arg("pause");
        c
    } else {
        let (prog, args) = rec.argv.split_first().ok_or("empty command")?;
        let mut c = Command::new(prog);
        c.args(args);
        if let Some(wd) = &rec.working_dir {
            c.current_dir(wd);
        }
        c
    };
    cmd.env_clear().envs(container_env(rec)).env_remove(SHIM_ENV).stdin(Stdio::null()).process_group(0);
    if root.is_some() {
        // The helper needs this to know its role; the command does not see it (exec replaces it).
        let spec = ExecInRoot {
            root: root.clone(),
            fresh_proc: rec.pid_init.is_some(),
            cwd: rec.working_dir.clone(),
            argv: rec.argv.clone(),
        };
        cmd.env(EXEC_ENV, serde_json::to_string(&spec).map_err(|e| e.to_string())?);
    }
    // Output pipes and their copier threads come before joining a PID namespace: after it, this
    // process can no longer start threads.
    let log = Arc::new(Mutex::new(log));
    let mut copiers = Vec::new();
    for (stream, is_stdout) in [(Stream::Stdout, true), (Stream::Stderr, false)] {
        let (reader, writer) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("cannot create a pipe: {e}"))?;
        let reader = File::from(reader);
        if is_stdout {
            cmd.stdout(writer);
        } else {
            cmd.stderr(writer);
        }
        let log = log.clone();
        copiers.push(std::thread::spawn(move || {
            let mut w = SharedLog(log);
            let _ = crilog::copy_stream(reader, &mut w, stream);
        }));
    }
    if let Some(init) = rec.pid_init {
        if !init.alive() {
            return Err("the pod's PID namespace is gone".into());
        }
        let f = File::open(format!("/proc/{}/ns/pid", init.pid))
            .map_err(|e| format!("cannot open the pid namespace: {e}"))?;
        nix::sched::setns(f, CloneFlags::CLONE_NEWPID)
            .map_err(|e| format!("cannot join the pod's pid namespace: {e}"))?;
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("failed to start {:?}: {e}", rec.argv);
            let mut w = SharedLog(log.clone());
            let _ = crilog::write_record(&mut w, Timestamp::now(), Stream::Stderr, format!("{msg}\n").as_bytes());
            return Err(msg);
        }
    };
    let pid = i32::try_from(child.id()).map_err(|e| e.to_string())?;
    if root.is_some() {
        // The helper chroots and execs the command: the container runs once that happened (hooks,
        // probes and exec enter its root from then on).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe"));
            if exe.map_or(true, |e| e != self_exe) || matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let started = StartedRecord {
        pid: ProcessRef::of(pid).unwrap_or(ProcessRef { pid, start_time: 0 }),
        started_at: Timestamp::now(),
    };
    write_json(&dir.join("started.json"), &started).map_err(|e| format!("cannot record the start: {e}"))?;
    // The command holds the pipes' write ends now; ours must go for the copiers to see EOF.
    drop(cmd);
    let status = child.wait().map_err(|e| format!("cannot wait for the container: {e}"))?;
    for c in copiers {
        let _ = c.join();
    }
    let oom = cgroup.as_ref().is_some_and(Cgroup::oom_killed);
    let message = termination_message(root.as_deref(), rec);
    let exit = ExitRecord { exit_code: exit_code(status), finished_at: Timestamp::now(), oom_killed: oom, message };
    write_json(&dir.join("exit.json"), &exit).map_err(|e| format!("cannot record the exit: {e}"))?;
    if let Some(cg) = cgroup {
        cg.remove();
    }
    Ok(())
}

/// Writes whole records through a shared file (stdout and stderr interleave by record).
struct SharedLog(Arc<Mutex<File>>);

impl Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut f = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

fn termination_message(root: Option<&Path>, rec: &ContainerRecord) -> Option<String> {
    let root = root?;
    let path = rec.termination_message_path.as_deref()?;
    let text = std::fs::read_to_string(root.join(path.trim_start_matches('/'))).ok()?;
    let text: String = text.chars().take(4096).collect();
    (!text.is_empty()).then_some(text)
}

fn bind(src: &Path, dst: &Path, recursive: bool) -> Result<(), String> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(src), dst, None::<&str>, flags, None::<&str>)
        .map_err(|e| format!("cannot bind {} on {}: {e}", src.display(), dst.display()))
}

/// The container's root: a tmpfs with the host's top-level directories bound in, a private /dev,
/// and the volumes at their mountPath (directories that do not exist on the host are created in
/// the tmpfs, or in an overlay over a host directory, never on the host).
fn build_root(dir: &Path, rec: &ContainerRecord) -> Result<PathBuf, String> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("cannot create a mount namespace: {e}"))?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| format!("cannot make mounts private: {e}"))?;
    let root = dir.join("rootfs");
    let scratch = dir.join("scratch");
    for d in [&root, &scratch] {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
        mount(Some("tmpfs"), d.as_path(), Some("tmpfs"), MsFlags::empty(), Some("mode=755"))
            .map_err(|e| format!("cannot mount a tmpfs on {}: {e}", d.display()))?;
    }
    let entries = std::fs::read_dir("/").map_err(|e| e.to_string())?;
    for e in entries.flatten() {
        let name = e.file_name();
        if name == "dev" || name == "rootfs" {
            continue;
        }
        let src = Path::new("/").join(&name);
        let dst = root.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&src) else { continue };
        if meta.file_type().is_symlink() {
            if let Ok(target) = std::fs::read_link(&src) {
                let _ = std::os::unix::fs::symlink(target, &dst);
            }
        } else if meta.is_dir() {
            std::fs::create_dir(&dst).map_err(|e| e.to_string())?;
            bind(&src, &dst, true)?;
        } else if meta.is_file() {
            File::create(&dst).map_err(|e| e.to_string())?;
            bind(&src, &dst, false)?;
        }
    }
    build_dev(&root)?;
    let mut mounts = rec.mounts.clone();
    mounts.sort_by_key(|m| m.container_path.matches('/').count());
    let mut overlays = 0;
    for m in &mounts {
        let target = root.join(m.container_path.trim_start_matches('/'));
        let is_dir = m.host_path.is_dir();
        ensure_path(&root, &target, is_dir, &scratch, &mut overlays)?;
        bind(&m.host_path, &target, true)?;
        if m.read_only {
            mount(
                None::<&str>,
                &target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| format!("cannot make {} read-only: {e}", m.container_path))?;
        }
    }
    Ok(root)
}

fn build_dev(root: &Path) -> Result<(), String> {
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).map_err(|e| e.to_string())?;
    mount(Some("tmpfs"), &dev, Some("tmpfs"), MsFlags::MS_NOSUID, Some("mode=755"))
        .map_err(|e| format!("cannot mount /dev: {e}"))?;
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        let src = Path::new("/dev").join(d);
        if src.exists() {
            File::create(dev.join(d)).map_err(|e| e.to_string())?;
            bind(&src, &dev.join(d), false)?;
        }
    }
    for d in ["pts", "shm", "mqueue"] {
        let src = Path::new("/dev").join(d);
        if src.is_dir() {
            std::fs::create_dir_all(dev.join(d)).map_err(|e| e.to_string())?;
            bind(&src, &dev.join(d), true)?;
        }
    }
    let links: BTreeMap<&str, &str> = [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ]
    .into();
    for (name, target) in links {
        let _ = std::os::unix::fs::symlink(target, dev.join(name));
    }
    File::create(dev.join("termination-log")).map_err(|e| e.to_string())?;
    Ok(())
}

/// Makes `target` exist inside `root` without touching the host: in the root tmpfs directly, or in
/// an overlay (upper layer in `scratch`) over the host directory that would hold it.
fn ensure_path(root: &Path, target: &Path, is_dir: bool, scratch: &Path, overlays: &mut usize) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if target.exists() {
        return Ok(());
    }
    let mut ancestor = target.parent().ok_or("bad mount path")?;
    while !ancestor.exists() {
        ancestor = ancestor.parent().ok_or("bad mount path")?;
    }
    let root_dev = std::fs::metadata(root).map_err(|e| e.to_string())?.dev();
    let anc_dev = std::fs::metadata(ancestor).map_err(|e| e.to_string())?.dev();
    if anc_dev != root_dev {
        // A host directory: put an overlay over it so new entries land in the scratch tmpfs.
        *overlays += 1;
        let rel = ancestor.strip_prefix(root).map_err(|e| e.to_string())?;
        let lower = Path::new("/").join(rel);
        let upper = scratch.join(format!("{overlays}/upper"));
        let work = scratch.join(format!("{overlays}/work"));
        std::fs::create_dir_all(&upper).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let opts = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
        mount(Some("overlay"), ancestor, Some("overlay"), MsFlags::empty(), Some(opts.as_str()))
            .map_err(|e| format!("cannot create {} in the container: {e}", target.display()))?;
    }
    if is_dir {
        std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
    } else {
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        File::create(target).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Memory and CPU limits through cgroups (v2 when mounted, else v1), when there are any.
struct Cgroup {
    dirs: Vec<PathBuf>,
    oom_file: Option<PathBuf>,
}

impl Cgroup {
    fn setup(id: &str, memory: Option<u64>, cpu_millis: Option<u64>) -> Option<Cgroup> {
        if memory.is_none() && cpu_millis.is_none() {
            return None;
        }
        let me = std::process::id().to_string();
        let base = Path::new("/sys/fs/cgroup");
        let mut dirs = Vec::new();
        let mut oom_file = None;
        if base.join("cgroup.controllers").exists() {
            let d = base.join("minik").join(id);
            if std::fs::create_dir_all(&d).is_ok() {
                if let Some(m) = memory {
                    let _ = std::fs::write(d.join("memory.max"), m.to_string());
                    let _ = std::fs::write(d.join("memory.swap.max"), "0");
                    oom_file = Some(d.join("memory.events"));
                }
                if let Some(c) = cpu_millis {
                    let _ = std::fs::write(d.join("cpu.max"), format!("{} 100000", (c * 100).max(1000)));
                }
                let _ = std::fs::write(d.join("cgroup.procs"), &me);
                dirs.push(d);
            }
        } else {
            if let Some(m) = memory {
                let d = base.join("memory/minik").join(id);
                if std::fs::create_dir_all(&d).is_ok() {
                    let _ = std::fs::write(d.join("memory.limit_in_bytes"), m.to_string());
                    let _ = std::fs::write(d.join("memory.memsw.limit_in_bytes"), m.to_string());
                    let _ = std::fs::write(d.join("cgroup.procs"), &me);
                    oom_file = Some(d.join("memory.oom_control"));
                    dirs.push(d);
                }
            }
            if let Some(c) = cpu_millis {
                let d = base.join("cpu/minik").join(id);
                if std::fs::create_dir_all(&d).is_ok() {
                    let _ = std::fs::write(d.join("cpu.cfs_period_us"), "100000");
                    let _ = std::fs::write(d.join("cpu.cfs_quota_us"), (c * 100).max(1000).to_string());
                    let _ = std::fs::write(d.join("cgroup.procs"), &me);
                    dirs.push(d);
                }
            }
        }
        Some(Cgroup { dirs, oom_file })
    }

    fn oom_killed(&self) -> bool {
        let Some(f) = &self.oom_file else { return false };
        std::fs::read_to_string(f)
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|n| n.trim().parse::<u64>().ok())
            })
            .is_some_and(|n| n > 0)
    }

    fn remove(self) {
        let me = std::process::id().to_string();
        for d in &self.dirs {
            // Move out first: a cgroup with members cannot be removed.
            if let Some(parent) = d.parent().and_then(Path::parent) {
                let _ = std::fs::write(parent.join("cgroup.procs"), &me);
            }
            let _ = std::fs::remove_dir(d);
        }
    }
}
