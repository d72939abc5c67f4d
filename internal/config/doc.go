// Package config is Weir's configuration: Flink-style dotted keys
// (state.backend, execution.checkpointing.interval, heartbeat.timeout, ...)
// with typed getters, a registry of every known key, and the precedence
// rules by which a process and a job arrive at their values.
//
// # Precedence
//
// Later layers override earlier ones:
//
//  1. defaults, from the registry (Known);
//  2. the YAML file (weir.yaml), Sources.File;
//  3. environment variables, Sources.Environ;
//  4. dynamic properties, -D key=value, Sources.Dynamic;
//  5. per-job settings (the job graph's config and SubmitJobRequest.config),
//     applied by Config.WithJob, which accepts only keys whose Option.Job
//     is set: a job cannot change the number of slots of a taskmanager.
//
// A process calls Load once at startup with layers 1-4 and reads its keys
// through the getters; the jobmanager derives each job's configuration
// from its own with WithJob.
//
// # The YAML file
//
// Keys may be written flat or nested: nested maps flatten into dotted keys,
// so "state: {backend: heap}" is "state.backend: heap". Setting one key
// both ways is an error. Values are scalars; YAML numbers and booleans are
// taken as their text.
//
// # Environment variables
//
// The variable of a key is WEIR_ followed by the key upper-cased with every
// '.' and '-' replaced by '_' (EnvName):
//
//	state.backend                  WEIR_STATE_BACKEND
//	rpc.max-message-size           WEIR_RPC_MAX_MESSAGE_SIZE
//	taskmanager.numberOfTaskSlots  WEIR_TASKMANAGER_NUMBEROFTASKSLOTS
//
// The mapping is read back through the registry, which is what makes the
// rule reversible: no two known keys share a variable (a test guards this).
// A WEIR_ variable that names no key is an error that suggests the nearest
// variable, except WEIR_JOBMANAGER, which is the CLI's jobmanager address
// and not a configuration key.
//
// # Unknown keys and bad values
//
// Every layer rejects keys that are not in the registry, naming the key and
// the nearest known one, and values that do not parse as the key's type,
// naming the key and the value. So a typo fails at startup or submission,
// never silently later.
//
// # Formats
//
// Durations (ParseDuration) are an integer and a unit, with or without a
// space: "10 s", "10s", "500 ms", "1 min", "2 h", "1 d"; a bare integer is
// milliseconds ("10000"); Go forms such as "1m30s" and "1.5s" are accepted
// too. Sizes (ParseBytes) are an integer and a binary unit: "64 mb", "128m",
// "1g", "512 kb"; a bare integer is bytes. Booleans are "true" or "false".
// Enumerations match case-insensitively.
//
// # Secrets
//
// Keys containing "secret", "password" or "access-key" (IsSecret) print as
// ****** in String, Redacted, LogValue and in every error this package
// returns. Only Get and Map return them in clear.
package config
