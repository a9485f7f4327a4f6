//! DQN family (in progress).
