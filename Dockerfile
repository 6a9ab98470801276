# The one image of fairvision: the Kubeflow pipeline's steps, the TFJob and TrainJob workers and the custom
# KServe predictor all run it (params.yaml `kubernetes.image`; README "The image").
#   docker build -t REGISTRY/fairvision:TAG .                                CPU
#   docker build --build-arg VARIANT=cuda -t REGISTRY/fairvision:TAG-cuda .  NVIDIA GPUs
# The base image is pinned by tag. To pin it by digest too, pass the digest that
# `docker buildx imagetools inspect python:3.11-slim-bookworm` prints:
#   --build-arg BASE_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
ARG BASE_IMAGE=python:3.11-slim-bookworm

# uv and the sources stay in this stage; the image takes the finished venv only.
FROM ${BASE_IMAGE} AS build
# The Makefile's UV_VERSION (tests/test_dockerfile.py keeps them equal).
ARG UV_VERSION=0.13.9
# cpu, or cuda: TensorFlow's `and-cuda` extra, locked in docker/cuda.lock.
ARG VARIANT=cpu
# Bytecode compiled once here: the image's user cannot write it, and every process imports TensorFlow.
ENV UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1 \
    VIRTUAL_ENV=/opt/venv
RUN pip install --no-cache-dir --root-user-action=ignore uv==${UV_VERSION}
WORKDIR /src
# The locked packages first: a change to the code alone reuses their layer.
COPY requirements.lock ./
COPY docker/ docker/
RUN sh docker/install.sh locked "$VARIANT"
COPY pyproject.toml README.md ./
COPY src/ src/
RUN sh docker/install.sh project

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="fairvision" \
      org.opencontainers.image.description="Reproducible fairness audits of image classifiers" \
      org.opencontainers.image.source="https://github.com/fairvision/fairvision" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric UID: Kubernetes' runAsNonRoot can verify only a numeric USER. What it writes is group 0's
# too, for clusters that run images under an arbitrary UID in group 0 (OpenShift); Kubeflow Pipelines
# backends before 2.3 write artifacts under /gcs, /minio and /s3 as the container's user.
RUN groupadd --gid 1000 fairvision \
 && useradd --uid 1000 --gid 1000 --no-log-init --create-home --home-dir /home/fairvision fairvision \
 && mkdir /workspace /gcs /minio /s3 \
 && chown 1000:0 /home/fairvision /workspace /gcs /minio /s3 \
 && chmod 775 /home/fairvision /workspace /gcs /minio /s3
COPY --from=build /opt/venv /opt/venv
# Kubeflow's lightweight components run `python3` from PATH: the venv's. Unbuffered, so logs reach
# `kubectl logs` as they are written.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/home/fairvision \
    PYTHONUNBUFFERED=1
# Stages read params.yaml and write data/, models/, audits/ and reports/ relative to here.
WORKDIR /workspace
USER 1000:1000
ENTRYPOINT ["fairvision"]
CMD ["--help"]
