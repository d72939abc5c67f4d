# Stand-in for minio/minio:latest on machines that cannot pull it: the MinIO
# server built from source by scripts/minio.sh (static), FROM scratch. The
# compose file runs it as `server /data ...`, as it runs the official image
# (whose entrypoint prefixes "minio"). Built by scripts/images.sh.
FROM scratch
COPY rootfs/ /
ENV HOME=/root TMPDIR=/tmp
EXPOSE 9000 9001
LABEL org.weirstream.standin="minio" \
      org.opencontainers.image.description="MinIO server for Weir's local stack (stand-in built by scripts/images.sh)"
ENTRYPOINT ["/minio"]
