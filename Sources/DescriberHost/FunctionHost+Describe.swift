import DescriberConfiguration

extension FunctionHost {
    /// `ready`, `unavailable` or `disabled`, for `/readyz` and listings.
    package func state(of name: String) -> String {
        guard let entry = entries[name] else { return "unknown" }
        if let pool = entry.pool {
            if let workers = pool.launcher as? WorkerLauncher, workers.isCrashLooping { return "crash_loop" }
            let snapshot = pool.snapshot
            if snapshot.refusing { return "stuck" }
            if snapshot.stuck > 0 { return "degraded" }
            return "ready"
        }
        if entry.config?.enabled == false { return "disabled" }
        return "unavailable"
    }

    /// What `GET /v1/functions/{name}` answers: state, instances, queue, and
    /// the effective configuration after overrides.
    package func describe(_ name: String) -> JSONValue? {
        guard let entry = entries[name] else { return nil }
        var members: [String: JSONValue] = [
            "name": .string(name),
            "state": .string(state(of: name)),
            "manifest": .string(entry.manifestPath),
            "generation": .int(entry.generation),
        ]
        if let problem = entry.problem { members["problem"] = .string(problem) }
        if let notice = entry.isolationNotice { members["isolation_notice"] = .string(notice) }
        if let problem = reloadProblem(of: name) { members["reload_problem"] = .string(problem) }
        if let workers = entry.pool?.launcher as? WorkerLauncher {
            members["workers"] = workers.description
            if let summary = workers.crashLoopSummary { members["problem"] = .string(summary) }
        }
        if let snapshot = entry.pool?.snapshot {
            members["instances"] = .object([
                "idle": .int(snapshot.idle), "busy": .int(snapshot.busy), "starting": .int(snapshot.starting), "stuck": .int(snapshot.stuck),
            ])
            members["queue_depth"] = .int(snapshot.queueDepth)
        }
        if let capabilities = entry.capabilities {
            var input: JSONValue = .string("bytes")
            if case .rgb8(let width, let height) = capabilities.input {
                input = .object(["kind": .string("rgb8"), "max_width": .int(width), "max_height": .int(height)])
            }
            members["library"] = .object([
                "version": .string(capabilities.version),
                "abi": .string("\(capabilities.abiMajor).\(capabilities.abiMinor)"),
                "batch": .bool(capabilities.batch),
                "reentrant": .bool(capabilities.reentrant),
                "input": input,
            ])
        }
        if let config = entry.config {
            members["description"] = .string(config.description)
            members["config"] = config.json(batchLimit: entry.pool?.batchLimit)
        }
        return .object(members)
    }
}

extension FunctionConfig {
    /// The `process:` settings that are set.
    var processJSON: [String: JSONValue] {
        var members: [String: JSONValue] = [:]
        if let memory = process.memory { members["memory"] = .int(memory) }
        if let cpu = process.cpuSeconds { members["cpu_seconds"] = .int(cpu) }
        if let files = process.openFiles { members["open_files"] = .int(files) }
        if let nice = process.nice { members["nice"] = .int(nice) }
        if let directory = process.workingDirectory { members["working_directory"] = .string(directory) }
        return members
    }

    /// The effective settings, with durations in milliseconds.
    func json(batchLimit: Int?) -> JSONValue {
        func ms(_ duration: Duration) -> JSONValue { .double(Double(duration.nanosecondsClamped) / 1e6) }
        var batching: [String: JSONValue] = ["max_batch_size": .int(maxBatchSize), "max_batch_delay_ms": ms(maxBatchDelay)]
        if let batchLimit { batching["effective_batch_limit"] = .int(batchLimit) }
        return .object([
            "library": .string(libraryPath),
            "isolation": .string(isolation.rawValue),
            "enabled": .bool(enabled),
            "input": .object(["content_types": .array(acceptedContentTypes.map(JSONValue.string)), "max_bytes": .int(maxInputBytes)]),
            "output": .object(["max_bytes": .int(maxOutputBytes)]),
            "scaling": .object([
                "min_instances": .int(minInstances), "max_instances": .int(maxInstances), "concurrency": .int(concurrency),
                "idle_timeout_ms": ms(idleTimeout),
            ]),
            "batching": .object(batching),
            "timeout": .object(["default_ms": ms(defaultTimeout), "maximum_ms": ms(maximumTimeout)]),
            "queue": .object(["max_depth": .int(maxQueueDepth)]),
            "environment": .object(
                Dictionary(
                    environment.map { key, value in (key, JSONValue.string(secretEnvironment.contains(key) ? ConfigNode.redacted : value)) },
                    uniquingKeysWith: { $1 })
            ),
            "process": .object(processJSON),
            "request_options": .object(requestOptions.mapValues(\.json)),
            "options": redactedOptions,
        ])
    }
}
