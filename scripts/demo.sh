#!/usr/bin/env bash
# The main job on fixtures/: snapshot → log → validate → diff → query, in a fresh repository.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD/demo-repo"
F="$PWD/fixtures"
rm -rf "$REPO"
export DVTOOL_REPO="$REPO"
run() { echo; echo "\$ $*"; "$@"; echo "[exit $?]"; }

run dvtool init "$REPO"
run dvtool snapshot "$F/orders/orders_v1.csv" -d orders --key order_id -m "first import"
run dvtool snapshot "$F/orders/orders_v2.csv" -d orders --key order_id -m "February corrections" --tag reviewed
run dvtool snapshot "$F/orders/orders_v1.parquet" -d orders-parquet --key order_id
run dvtool snapshot "$F/customers/customers.parquet" -d customers --key customer_id
run dvtool log orders
run dvtool ls
run dvtool show orders@reviewed
run dvtool validate orders --schema "$F/faults/orders.schema.yaml"
run dvtool validate "$F/faults/orders_bad.csv" --schema "$F/faults/orders.schema.yaml"
run dvtool snapshot "$F/faults/orders_bad.csv" -d orders --key order_id --schema "$F/faults/orders.schema.yaml"
run dvtool diff orders@v1 orders@v2 --limit 3
run dvtool query 'select status, count(*) as n, round(sum(amount), 2) as total from orders group by status order by n desc'
run dvtool export orders@v1 "$REPO/../demo-orders-v1.parquet"
echo
echo "Repository left in $REPO (remove it with: rm -rf demo-repo demo-orders-v1.parquet)"
