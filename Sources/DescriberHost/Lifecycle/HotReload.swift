import DescriberConfiguration
import Logging
import NIOPosix
import Prometheus
import Synchronization

/// Hot reload: a function whose library or manifest changes on disk is
/// loaded again while the host serves.
///
/// - The function folders are looked at every `reload.interval`. A change
///   is loaded once the files have looked the same for one whole interval,
///   so a library still being copied in is not loaded half-written. (A copy
///   that pauses longer than that fails to load, is reported, and is tried
///   again when it changes once more.)
/// - The new version is loaded beside the old one and pre-warmed; then new
///   invocations go to it, and the old version finishes what it had
///   admitted, queued or running, before its instances stop and its worker
///   processes exit. No request fails because of a reload.
/// - A new version that cannot be loaded (bad manifest, ABI mismatch, an
///   instance that cannot start) leaves the old version serving, and the
///   reason is logged and shown in `GET /v1/functions/{name}`.
/// - In-process functions: the new library is loaded from a private copy
///   beside the old one, which stays mapped (code cannot be unloaded while
///   anything may still point into it). Each reload of an in-process
///   function therefore costs the size of its code until the host restarts;
///   worker-process functions cost nothing, as their old workers exit.
/// - A new folder with a `function.yaml` is loaded as a new function.
extension FunctionHost {
    func startWatching() {
        let interval = config.reloadInterval
        let task = Task { [weak self] in
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                guard let self else { return }
                await self.checkForChanges()
            }
        }
        functions.withLock { $0.watcher = task }
    }

    /// One look at the function folders; reloads what has changed and settled.
    func checkForChanges() async {
        guard isReady else { return }
        let directory = config.functionsDirectory
        let onDisk = (try? FileSystem.subdirectories(of: directory).filter { FileSystem.exists("\(directory)/\($0)/function.yaml") }) ?? []
        let loaded = entries
        var due: [(String, [String: String])] = []
        for name in Set(onDisk).union(loaded.keys).sorted() {
            let paths = loaded[name]?.watched.keys.sorted() ?? ["\(directory)/\(name)/function.yaml"]
            var observed: [String: String] = [:]
            for path in paths { observed[path] = FileSystem.fingerprint(path) }
            let settled = functions.withLock { functions -> Bool in
                guard observed != loaded[name]?.watched, observed != functions.failedVersions[name] else {
                    functions.pendingChanges[name] = nil
                    return false
                }
                defer { functions.pendingChanges[name] = observed }
                return functions.pendingChanges[name] == observed
            }
            if settled { due.append((name, observed)) }
        }
        for (name, observed) in due {
            // Shutdown cancels the watcher: no new version starts after that.
            guard !Task.isCancelled, isReady else { return }
            await reload(name, observed: observed)
        }
    }

    /// Loads the function's current files as a new version and, if it
    /// works, puts it in place of the old one.
    func reload(_ name: String, observed: [String: String]) async {
        let previous = entries[name]
        let generation = (previous?.generation ?? 0) + 1
        let loader = self.loader
        // Loading opens libraries and may start a worker process to check
        // one: blocking work, kept off Swift's cooperative pool.
        var entry: Entry
        do {
            entry = try await NIOThreadPool.singleton.runIfActive { loader.load(name: name, generation: generation) }
        } catch {
            return
        }
        var problem = entry.problem
        if let pool = entry.pool, let config = entry.config {
            await pool.prewarm()
            if pool.snapshot.idle < config.minInstances {
                problem = "the new version could not start its \(config.minInstances) pre-warmed instance(s); see the log"
                await pool.drain(grace: .zero)
                // Never installed with a drained pool: it is a function that cannot run, and says why.
                entry = Entry(
                    name: name, manifestPath: entry.manifestPath, generation: generation, watched: entry.watched, config: config,
                    problem: problem, capabilities: entry.capabilities, isolationNotice: entry.isolationNotice
                )
            }
        }
        let outcome: String
        if let problem, previous?.pool != nil {
            functions.withLock { functions in
                functions.reloadProblems[name] = problem
                functions.failedVersions[name] = observed
                functions.pendingChanges[name] = nil
            }
            outcome = "failed"
            logger.error("Reload failed; the previous version keeps serving", metadata: ["function": "\(name)", "reason": "\(problem)"])
        } else {
            let replaced = functions.withLock { functions -> FunctionPool? in
                functions.entries[name] = entry
                functions.reloadProblems[name] = nil
                functions.failedVersions[name] = entry.pool == nil ? observed : nil
                functions.pendingChanges[name] = nil
                guard let old = previous?.pool else { return nil }
                functions.retiring[ObjectIdentifier(old)] = old
                return old
            }
            if let replaced {
                Task {
                    await replaced.retire()
                    _ = self.functions.withLock { $0.retiring.removeValue(forKey: ObjectIdentifier(replaced)) }
                }
            }
            outcome = entry.pool == nil ? "failed" : "loaded"
            logger.info(
                previous == nil ? "Function added" : "Function reloaded",
                metadata: [
                    "function": "\(name)", "generation": "\(generation)",
                    "version": "\(entry.capabilities?.version ?? "-")", "problem": "\(entry.problem ?? "none")",
                ]
            )
        }
        metrics.makeCounter(descriptor: Self.reloadsMetric, labels: [("function", name), ("outcome", outcome)]).increment()
    }

    static var reloadsMetric: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "describer", metricName: "reloads", unitName: "total", helpText: "Function reloads by outcome.")
    }

    /// Why the newest files of `name` are not the version serving, if they are not.
    func reloadProblem(of name: String) -> String? {
        functions.withLock { $0.reloadProblems[name] }
    }
}
