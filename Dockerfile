# One read-only replica of the archive. The archive is immutable once built, so
# run as many of these as the load needs behind any load balancer.
#   docker build -t summit-archive . && docker run -p 8001:8001 summit-archive
# To serve an archive built elsewhere (for example merged from shards), mount it
# over /app/archive.db and /app/archive.inspect.json.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ingest
RUN pip install --no-cache-dir .
COPY metadata.yml ./
COPY templates templates
COPY plugins plugins
COPY static static
COPY serve.py ./
COPY seeds seeds
RUN python -m ingest seeds --db archive.db \
 && datasette inspect archive.db --inspect-file archive.inspect.json
EXPOSE 8001
# serve.py: Datasette read-only with the project's options, one worker process per core.
CMD ["python", "serve.py", "archive.db", "--inspect-file", "archive.inspect.json", "--host", "0.0.0.0", "--port", "8001"]
