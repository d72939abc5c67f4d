# Stand-in for apache/kafka:latest on machines that cannot pull it:
# tools/kafkabroker, franz-go's kfake in-memory broker (test tooling, not a
# Kafka), static, FROM scratch. It reads the official image's KAFKA_*
# environment, so the compose file configures both the same way. Built by
# scripts/images.sh.
FROM scratch
COPY rootfs/ /
USER 65532:65532
EXPOSE 9092
LABEL org.weirstream.standin="kafka" \
      org.opencontainers.image.description="kfake Kafka broker for Weir's local stack (stand-in built by scripts/images.sh; test tooling)"
ENTRYPOINT ["/kafkabroker"]
