#!/usr/bin/env bash
# Step of ATMO Spark jobs on EMR: run a notebook and keep the executed copy.
#
#   batch.sh --job-name NAME --notebook s3://bucket/key.ipynb --data-bucket BUCKET
#            [--run-date YYYY-MM-DD]
#
# Copies the notebook from S3, runs it with papermill (or jupyter nbconvert when papermill is
# missing) and uploads the executed notebook and its log to s3://BUCKET/NAME/RUN_DATE/, even
# when the run fails, so the owner sees the error. Exits with the run's status, which EMR turns
# into the step's COMPLETED or FAILED. The seed of the embedded AWS uploads this file to
# s3://<spark EMR bucket>/steps/.
set -euo pipefail

job_name=""
notebook=""
data_bucket=""
run_date="$(date -u +%Y-%m-%d)"

while [ "$#" -gt 0 ]; do
  case "$1" in
    --job-name) job_name="${2:?--job-name needs a value}"; shift 2 ;;
    --notebook) notebook="${2:?--notebook needs a value}"; shift 2 ;;
    --data-bucket) data_bucket="${2:?--data-bucket needs a value}"; shift 2 ;;
    --run-date) run_date="${2:?--run-date needs a value}"; shift 2 ;;
    *) echo "batch.sh: unknown argument $1" \
            "(allowed: --job-name, --notebook, --data-bucket, --run-date)" >&2
       exit 2 ;;
  esac
done

if [ -z "$job_name" ] || [ -z "$notebook" ] || [ -z "$data_bucket" ]; then
  echo "batch.sh: --job-name, --notebook and --data-bucket are required" >&2
  exit 2
fi
case "$notebook" in
  s3://*) ;;
  *) echo "batch.sh: --notebook must be an s3:// URI, got $notebook" >&2; exit 2 ;;
esac

work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT
notebook_name="$(basename "$notebook")"
input="$work_dir/input/$notebook_name"
output="$work_dir/output/$notebook_name"
log_file="$work_dir/output/$job_name.log"
mkdir -p "$work_dir/input" "$work_dir/output"

aws s3 cp "$notebook" "$input"

status=0
if command -v papermill > /dev/null 2>&1; then
  papermill --log-output "$input" "$output" > "$log_file" 2>&1 || status=$?
else
  jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=-1 \
    --output-dir "$work_dir/output" "$input" > "$log_file" 2>&1 || status=$?
fi

destination="s3://$data_bucket/$job_name/$run_date/"
if [ -f "$output" ]; then
  aws s3 cp "$output" "$destination$notebook_name"
fi
aws s3 cp "$log_file" "$destination$job_name.log"
echo "batch.sh: $job_name finished with status $status; results in $destination"
exit "$status"
