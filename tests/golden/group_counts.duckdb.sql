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
      "t10".*
      EXCLUDE ("customer_id_right")
    FROM (
      SELECT
        "t9"."customer_id",
        "t9"."home_branch_id",
        "t9"."owner_manager_id",
        "t9"."tier",
        "t9"."prev_tier",
        "t9"."tier_move",
        "t9"."near_threshold",
        "t9"."next_tier_gap",
        "t9"."aum",
        "t9"."aum_month_end",
        "t9"."aum_avg_daily",
        "t9"."deposits",
        "t9"."liabilities",
        "t9"."cash_amount",
        "t9"."fixed_income_amount",
        "t9"."equity_amount",
        "t9"."alternative_amount",
        "t9"."protection_amount",
        "t9"."liquid_assets",
        "t9"."fund_balance",
        "t9"."wealth_balance",
        "t9"."pension_balance",
        "t9"."segments",
        "t9"."seg_silver",
        "t9"."seg_social_security",
        "t9"."seg_payroll",
        "t9"."seg_oil_trade",
        "t9"."seg_civil_service",
        "t9"."seg_merchant",
        "t9"."seg_teacher",
        "t9"."seg_talent",
        "t9"."seg_new_citizen",
        "t9"."seg_young",
        "t9"."seg_women",
        "t9"."seg_fund_holder",
        "t9"."seg_vip_wealth",
        "t9"."seg_asset_upgrade",
        "t9"."seg_outside_money",
        "t9"."seg_low_carbon",
        "t9"."seg_dormant",
        "t9"."seg_family_trust_prospect",
        "t9"."lifecycle",
        "t9"."life_stage",
        "t9"."age",
        "t9"."gender",
        "t9"."occupation",
        "t9"."industry",
        "t9"."hukou_local",
        "t9"."dependants",
        "t9"."tenure_days",
        "t9"."talent_employer",
        "t9"."tags",
        "t9"."owned",
        "t9"."prev_dormant",
        "t9"."risk_level",
        "t9"."risk_level_num",
        "t9"."risk_assessed_on",
        "t9"."risk_valid",
        "t9"."risk_expires_in_days",
        "t9"."risk_expiring",
        "t9"."dual_recording_r3",
        "t9"."first_time_investor",
        "t9"."salary_months",
        "t9"."salary_monthly",
        "t9"."pension_months",
        "t9"."spend_monthly",
        "t9"."same_name_out",
        "t9"."same_name_out_count",
        "t9"."txn_count",
        "t9"."days_since_last_txn",
        "t9"."net_flow",
        "t9"."aum_growth",
        "t9"."liquid_reserve_months",
        "t9"."above_risk_share",
        "t9"."n_products",
        "t9"."maturity_peak_share",
        "t9"."fund_return",
        "t9"."value_return",
        "t9"."green_points",
        "t9"."carbon_grams",
        "t9"."carbon_bus",
        "t9"."carbon_metro",
        "t9"."carbon_high_speed_rail",
        "t9"."carbon_shared_bike",
        "t9"."carbon_ev_charging",
        "t9"."carbon_etc_toll",
        "t9"."carbon_second_hand",
        "t9"."carbon_online_shopping",
        "t9"."carbon_qr_payment",
        "t9"."carbon_utility_online",
        "t9"."carbon_telecom_online",
        "t9"."carbon_government_online",
        "t9"."carbon_card_repayment_online",
        "t9"."carbon_mobile_transfer",
        "t9"."carbon_mobile_purchase",
        "t9"."maturing_7d_amount",
        "t9"."next_maturity_days",
        "t9"."birthday_this_month",
        "t9"."days_to_birthday",
        "t9"."days_to_payday",
        "t9"."days_to_bonus",
        "t9"."same_name_out_7d",
        "t9"."large_transfer_7d",
        "t9"."prev_health_score",
        "t9"."health_change",
        "t9"."health_score",
        "t9"."health_allocation",
        "t9"."health_growth",
        "t9"."health_liquidity",
        "t9"."health_risk_match",
        "t9"."health_diversification",
        "t9"."health_protection",
        "t9"."health_maturity",
        "t9"."band_allocation",
        "t9"."band_growth",
        "t9"."band_liquidity",
        "t9"."band_risk_match",
        "t9"."band_diversification",
        "t9"."band_protection",
        "t9"."band_maturity",
        "t9"."gap_class",
        "t9"."allocation_distance",
        "t9"."target_cash",
        "t9"."target_fixed_income",
        "t9"."target_equity",
        "t9"."target_alternative",
        "t9"."target_protection",
        "t9"."gap_cash",
        "t9"."gap_fixed_income",
        "t9"."gap_equity",
        "t9"."gap_alternative",
        "t9"."gap_protection",
        "t9"."triggers",
        "t3"."customer_id" AS "customer_id_right",
        "t3"."products_held",
        "t3"."product_types"
      FROM (
        SELECT
          "t7".*
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
            "t4"."age",
            "t4"."gender",
            "t4"."occupation",
            "t4"."industry",
            "t4"."hukou_local",
            "t4"."dependants",
            "t4"."tenure_days",
            "t4"."talent_employer",
            "t4"."tags",
            "t4"."owned",
            "t4"."prev_dormant",
            "t4"."risk_level",
            "t4"."risk_level_num",
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
            "t4"."maturity_peak_share",
            "t4"."fund_return",
            "t4"."value_return",
            "t4"."green_points",
            "t4"."carbon_grams",
            "t4"."carbon_bus",
            "t4"."carbon_metro",
            "t4"."carbon_high_speed_rail",
            "t4"."carbon_shared_bike",
            "t4"."carbon_ev_charging",
            "t4"."carbon_etc_toll",
            "t4"."carbon_second_hand",
            "t4"."carbon_online_shopping",
            "t4"."carbon_qr_payment",
            "t4"."carbon_utility_online",
            "t4"."carbon_telecom_online",
            "t4"."carbon_government_online",
            "t4"."carbon_card_repayment_online",
            "t4"."carbon_mobile_transfer",
            "t4"."carbon_mobile_purchase",
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
            "t4"."band_growth",
            "t4"."band_liquidity",
            "t4"."band_risk_match",
            "t4"."band_diversification",
            "t4"."band_protection",
            "t4"."band_maturity",
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
            "t6"."customer_id" AS "customer_id_right",
            "t6"."triggers"
          FROM "run_20261120_01"."profiles" AS "t4"
          LEFT OUTER JOIN (
            SELECT
              "t2"."customer_id",
              ARRAY_AGG("t2"."trigger") FILTER(WHERE
                "t2"."trigger" IS NOT NULL) AS "triggers"
            FROM "run_20261120_01"."triggers" AS "t2"
            GROUP BY
              1
          ) AS "t6"
            ON "t4"."customer_id" = "t6"."customer_id"
        ) AS "t7"
      ) AS "t9"
      LEFT OUTER JOIN "snap_20261120"."held_lists" AS "t3"
        ON "t9"."customer_id" = "t3"."customer_id"
    ) AS "t10"
  ) AS "t11"
  WHERE
    COALESCE(
      COALESCE(ARRAY_CONTAINS("t11"."product_types", 'fund'), FALSE)
      AND NOT (
        COALESCE(ARRAY_CONTAINS("t11"."triggers", 'birthday'), FALSE)
      ),
      FALSE
    )
) AS "t12";
