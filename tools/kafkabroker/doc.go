// Command kafkabroker is test tooling, not a Kafka: it runs franz-go's kfake,
// an in-memory Kafka protocol implementation, as a single broker, so that the
// compose stack in deploy/ and end-to-end tests have a Kafka endpoint on a
// machine that cannot pull the apache/kafka image. scripts/images.sh builds
// it into a FROM scratch image tagged apache/kafka:latest; anywhere a real
// image can be pulled, use the real one. Data lives in memory (or in
// -data-dir) and nothing about durability, performance or fidelity beyond
// what kfake implements should be inferred from it.
//
// # Listeners
//
// Kafka clients connect to a seed address and then to the broker address the
// broker advertises in its metadata. A broker reached from two networks (the
// compose network as kafka:9092, the host as 127.0.0.1:9092) must advertise
// a different address on each, as Kafka's named listeners do. kfake
// advertises one address per broker, so kafkabroker serves several
// listeners: the primary one is the address kfake advertises; on every other
// listener the broker addresses in responses (Metadata, FindCoordinator,
// DescribeCluster, and the leader hints of Produce, Fetch, ShareFetch and
// ShareAcknowledge) are rewritten from the primary advertised address to
// that listener's own.
//
// Configuration takes the apache/kafka image's environment, so one compose
// file serves both images; flags override it:
//
//	-listeners            KAFKA_LISTENERS             NAME://[HOST]:PORT,...       where to listen
//	-advertised-listeners KAFKA_ADVERTISED_LISTENERS  NAME://HOST:PORT,...         what to advertise
//	-primary              KAFKA_INTER_BROKER_LISTENER_NAME  (default: the first advertised listener)
//	-partitions           KAFKA_NUM_PARTITIONS        partitions of auto-created and seeded topics
//	-auto-create          KAFKA_AUTO_CREATE_TOPICS_ENABLE
//	-seed-topics          KAFKABROKER_SEED_TOPICS     TOPIC[:PARTITIONS],...  created at start
//	-data-dir             KAFKABROKER_DATA_DIR        persist across restarts (default: memory)
//
// Listeners that have no advertised address (the official image's CONTROLLER
// listener) are not served. kafkabroker runs until SIGTERM or SIGINT.
package main
