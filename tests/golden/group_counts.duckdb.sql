-- plain: age >= 60 AND list_contains(segments, 'silver')
SELECT
  COUNT(*) AS "CountStar()"
FROM (
  SELECT
    *
  FROM "run_20261120_01"."profiles" AS "t0"
  WHERE
    COALESCE(
      (
        "t0"."age" >= 60
      )
      AND COALESCE(ARRAY_CONTAINS("t0"."segments", 'silver'), FALSE),
      FALSE
    )
) AS "t1";

-- bounded: aum > 50000
SELECT
  COUNT(*) AS "CountStar()"
FROM (
  SELECT
    *
  FROM "run_20261120_01"."profiles" AS "t0"
  WHERE
    COALESCE("t0"."aum" > 50000, FALSE)
    AND "t0"."home_branch_id" IN ('B0101', 'B010101')
) AS "t1";

-- held lists: list_contains(product_types, 'fund') AND NOT list_contains(triggers, 'birthday')
SELECT
  COUNT(*) AS "CountStar()"
FROM (
  SELECT
    *
  FROM (
    SELECT
      "t15".*
      EXCLUDE ("customer_id_right")
    FROM (
      SELECT
        "t14"."customer_id",
        "t14"."home_branch_id",
        "t14"."owner_manager_id",
        "t14"."tier",
        "t14"."prev_tier",
        "t14"."tier_move",
        "t14"."near_threshold",
        "t14"."next_tier_gap",
        "t14"."aum",
        "t14"."aum_month_end",
        "t14"."aum_avg_daily",
        "t14"."deposits",
        "t14"."liabilities",
        "t14"."cash_amount",
        "t14"."fixed_income_amount",
        "t14"."equity_amount",
        "t14"."alternative_amount",
        "t14"."protection_amount",
        "t14"."liquid_assets",
        "t14"."fund_balance",
        "t14"."wealth_balance",
        "t14"."pension_balance",
        "t14"."segments",
        "t14"."seg_silver",
        "t14"."seg_social_security",
        "t14"."seg_payroll",
        "t14"."seg_oil_trade",
        "t14"."seg_civil_service",
        "t14"."seg_merchant",
        "t14"."seg_teacher",
        "t14"."seg_talent",
        "t14"."seg_new_citizen",
        "t14"."seg_young",
        "t14"."seg_women",
        "t14"."seg_fund_holder",
        "t14"."seg_vip_wealth",
        "t14"."seg_asset_upgrade",
        "t14"."seg_outside_money",
        "t14"."seg_low_carbon",
        "t14"."seg_dormant",
        "t14"."seg_family_trust_prospect",
        "t14"."lifecycle",
        "t14"."life_stage",
        "t14"."kyc_tags",
        "t14"."age",
        "t14"."gender",
        "t14"."occupation",
        "t14"."industry",
        "t14"."hukou_local",
        "t14"."dependants",
        "t14"."tenure_days",
        "t14"."risk_level",
        "t14"."risk_assessed_on",
        "t14"."risk_valid",
        "t14"."risk_expires_in_days",
        "t14"."risk_expiring",
        "t14"."dual_recording_r3",
        "t14"."first_time_investor",
        "t14"."salary_months",
        "t14"."salary_monthly",
        "t14"."pension_months",
        "t14"."spend_monthly",
        "t14"."same_name_out",
        "t14"."same_name_out_count",
        "t14"."txn_count",
        "t14"."days_since_last_txn",
        "t14"."net_flow",
        "t14"."aum_growth",
        "t14"."liquid_reserve_months",
        "t14"."above_risk_share",
        "t14"."n_products",
        "t14"."fund_return",
        "t14"."value_return",
        "t14"."green_points",
        "t14"."carbon_grams",
        "t14"."maturing_7d_amount",
        "t14"."next_maturity_days",
        "t14"."birthday_this_month",
        "t14"."days_to_birthday",
        "t14"."days_to_payday",
        "t14"."days_to_bonus",
        "t14"."same_name_out_7d",
        "t14"."large_transfer_7d",
        "t14"."prev_health_score",
        "t14"."health_change",
        "t14"."health_score",
        "t14"."health_allocation",
        "t14"."health_growth",
        "t14"."health_liquidity",
        "t14"."health_risk_match",
        "t14"."health_diversification",
        "t14"."health_protection",
        "t14"."health_maturity",
        "t14"."band_allocation",
        "t14"."finding_allocation",
        "t14"."action_allocation",
        "t14"."band_growth",
        "t14"."finding_growth",
        "t14"."action_growth",
        "t14"."band_liquidity",
        "t14"."finding_liquidity",
        "t14"."action_liquidity",
        "t14"."band_risk_match",
        "t14"."finding_risk_match",
        "t14"."action_risk_match",
        "t14"."band_diversification",
        "t14"."finding_diversification",
        "t14"."action_diversification",
        "t14"."band_protection",
        "t14"."finding_protection",
        "t14"."action_protection",
        "t14"."band_maturity",
        "t14"."finding_maturity",
        "t14"."action_maturity",
        "t14"."gap_class",
        "t14"."allocation_distance",
        "t14"."target_cash",
        "t14"."target_fixed_income",
        "t14"."target_equity",
        "t14"."target_alternative",
        "t14"."target_protection",
        "t14"."gap_cash",
        "t14"."gap_fixed_income",
        "t14"."gap_equity",
        "t14"."gap_alternative",
        "t14"."gap_protection",
        "t14"."triggers",
        "t13"."customer_id" AS "customer_id_right",
        "t13"."products_held",
        "t13"."product_types"
      FROM (
        SELECT
          "t10".*
          EXCLUDE ("customer_id_right")
        FROM (
          SELECT
            "t4"."customer_id",
            "t4"."home_branch_id",
            "t4"."owner_manager_id",
            "t4"."tier",
            "t4"."prev_tier",
            "t4"."tier_move",
            "t4"."near_threshold",
            "t4"."next_tier_gap",
            "t4"."aum",
            "t4"."aum_month_end",
            "t4"."aum_avg_daily",
            "t4"."deposits",
            "t4"."liabilities",
            "t4"."cash_amount",
            "t4"."fixed_income_amount",
            "t4"."equity_amount",
            "t4"."alternative_amount",
            "t4"."protection_amount",
            "t4"."liquid_assets",
            "t4"."fund_balance",
            "t4"."wealth_balance",
            "t4"."pension_balance",
            "t4"."segments",
            "t4"."seg_silver",
            "t4"."seg_social_security",
            "t4"."seg_payroll",
            "t4"."seg_oil_trade",
            "t4"."seg_civil_service",
            "t4"."seg_merchant",
            "t4"."seg_teacher",
            "t4"."seg_talent",
            "t4"."seg_new_citizen",
            "t4"."seg_young",
            "t4"."seg_women",
            "t4"."seg_fund_holder",
            "t4"."seg_vip_wealth",
            "t4"."seg_asset_upgrade",
            "t4"."seg_outside_money",
            "t4"."seg_low_carbon",
            "t4"."seg_dormant",
            "t4"."seg_family_trust_prospect",
            "t4"."lifecycle",
            "t4"."life_stage",
            "t4"."kyc_tags",
            "t4"."age",
            "t4"."gender",
            "t4"."occupation",
            "t4"."industry",
            "t4"."hukou_local",
            "t4"."dependants",
            "t4"."tenure_days",
            "t4"."risk_level",
            "t4"."risk_assessed_on",
            "t4"."risk_valid",
            "t4"."risk_expires_in_days",
            "t4"."risk_expiring",
            "t4"."dual_recording_r3",
            "t4"."first_time_investor",
            "t4"."salary_months",
            "t4"."salary_monthly",
            "t4"."pension_months",
            "t4"."spend_monthly",
            "t4"."same_name_out",
            "t4"."same_name_out_count",
            "t4"."txn_count",
            "t4"."days_since_last_txn",
            "t4"."net_flow",
            "t4"."aum_growth",
            "t4"."liquid_reserve_months",
            "t4"."above_risk_share",
            "t4"."n_products",
            "t4"."fund_return",
            "t4"."value_return",
            "t4"."green_points",
            "t4"."carbon_grams",
            "t4"."maturing_7d_amount",
            "t4"."next_maturity_days",
            "t4"."birthday_this_month",
            "t4"."days_to_birthday",
            "t4"."days_to_payday",
            "t4"."days_to_bonus",
            "t4"."same_name_out_7d",
            "t4"."large_transfer_7d",
            "t4"."prev_health_score",
            "t4"."health_change",
            "t4"."health_score",
            "t4"."health_allocation",
            "t4"."health_growth",
            "t4"."health_liquidity",
            "t4"."health_risk_match",
            "t4"."health_diversification",
            "t4"."health_protection",
            "t4"."health_maturity",
            "t4"."band_allocation",
            "t4"."finding_allocation",
            "t4"."action_allocation",
            "t4"."band_growth",
            "t4"."finding_growth",
            "t4"."action_growth",
            "t4"."band_liquidity",
            "t4"."finding_liquidity",
            "t4"."action_liquidity",
            "t4"."band_risk_match",
            "t4"."finding_risk_match",
            "t4"."action_risk_match",
            "t4"."band_diversification",
            "t4"."finding_diversification",
            "t4"."action_diversification",
            "t4"."band_protection",
            "t4"."finding_protection",
            "t4"."action_protection",
            "t4"."band_maturity",
            "t4"."finding_maturity",
            "t4"."action_maturity",
            "t4"."gap_class",
            "t4"."allocation_distance",
            "t4"."target_cash",
            "t4"."target_fixed_income",
            "t4"."target_equity",
            "t4"."target_alternative",
            "t4"."target_protection",
            "t4"."gap_cash",
            "t4"."gap_fixed_income",
            "t4"."gap_equity",
            "t4"."gap_alternative",
            "t4"."gap_protection",
            "t8"."customer_id" AS "customer_id_right",
            "t8"."triggers"
          FROM "run_20261120_01"."profiles" AS "t4"
          LEFT OUTER JOIN (
            SELECT
              "t2"."customer_id",
              ARRAY_AGG("t2"."trigger") FILTER(WHERE
                "t2"."trigger" IS NOT NULL) AS "triggers"
            FROM "run_20261120_01"."triggers" AS "t2"
            GROUP BY
              1
          ) AS "t8"
            ON "t4"."customer_id" = "t8"."customer_id"
        ) AS "t10"
      ) AS "t14"
      LEFT OUTER JOIN (
        SELECT
          "t9"."customer_id",
          ARRAY_AGG(DISTINCT "t9"."product_id") FILTER(WHERE
            "t9"."product_id" IS NOT NULL) AS "products_held",
          ARRAY_AGG(DISTINCT "t9"."product_type") FILTER(WHERE
            "t9"."product_type" IS NOT NULL) AS "product_types"
        FROM (
          SELECT
            "t5"."customer_id",
            "t5"."product_id",
            "t6"."type" AS "product_type"
          FROM "snap_20261120"."holdings" AS "t5"
          INNER JOIN "snap_20261120"."products" AS "t6"
            ON "t5"."product_id" = "t6"."product_id"
        ) AS "t9"
        GROUP BY
          1
      ) AS "t13"
        ON "t14"."customer_id" = "t13"."customer_id"
    ) AS "t15"
  ) AS "t16"
  WHERE
    COALESCE(
      COALESCE(ARRAY_CONTAINS("t16"."product_types", 'fund'), FALSE)
      AND NOT (
        COALESCE(ARRAY_CONTAINS("t16"."triggers", 'birthday'), FALSE)
      ),
      FALSE
    )
) AS "t17";
