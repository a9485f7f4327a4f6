mod plan_tests;
