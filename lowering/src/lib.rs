//! Template resolution, macros, the container IR and its lowering to Docker (in progress).
