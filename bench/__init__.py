"""Storeroom's benchmark against rclone, SeaweedFS and moto: see bench/README.md."""
