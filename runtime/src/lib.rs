//! Runs container plans on a Docker engine through bollard (in progress).
