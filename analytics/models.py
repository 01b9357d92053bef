"""Analytics computes from the other apps' tables; its own rows are exports (asynchronous report files)."""
