<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis hasScaleBasedVisibilityFlag="0" minScale="1e+08" maxScale="0" version="3.22.16-Białowieża" styleCategories="Symbology|Rendering|Legend">
  <pipe-data-defined-properties>
    <Option type="Map">
      <Option name="name" type="QString" value=""/>
      <Option name="properties"/>
      <Option name="type" type="QString" value="collection"/>
    </Option>
  </pipe-data-defined-properties>
  <pipe>
    <provider>
      <resampling enabled="false" zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour" maxOversampling="2"/>
    </provider>
    <rasterrenderer band="1" classificationMin="0" type="singlebandpseudocolor" nodataColor="" classificationMax="30" opacity="0.75" alphaBand="-1">
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <rastershader>
        <colorrampshader minimumValue="0" maximumValue="30" clip="0" colorRampType="INTERPOLATED" labelPrecision="6" classificationMode="1">
          <item alpha="255" label="0 lx" value="0" color="#000004"/>
          <item alpha="255" label="0,5 lx" value="0.5" color="#1c1044"/>
          <item alpha="255" label="1 lx" value="1" color="#4f127b"/>
          <item alpha="255" label="3 lx" value="3" color="#812581"/>
          <item alpha="255" label="5 lx" value="5" color="#b5367a"/>
          <item alpha="255" label="10 lx" value="10" color="#e55064"/>
          <item alpha="255" label="20 lx" value="20" color="#fb8761"/>
          <item alpha="255" label="≥ 30 lx" value="30" color="#fcfdbf"/>
          <rampLegendSettings useContinuousLegend="1" suffix="" minimumLabel="" prefix="" orientation="2" maximumLabel="" direction="0">
            <numericFormat id="basic">
              <Option type="Map">
                <Option name="decimal_separator" type="QChar" value=""/>
                <Option name="decimals" type="int" value="6"/>
                <Option name="rounding_type" type="int" value="0"/>
                <Option name="show_plus" type="bool" value="false"/>
                <Option name="show_thousand_separator" type="bool" value="true"/>
                <Option name="show_trailing_zeros" type="bool" value="false"/>
                <Option name="thousand_separator" type="QChar" value=""/>
              </Option>
            </numericFormat>
          </rampLegendSettings>
        </colorrampshader>
      </rastershader>
    </rasterrenderer>
    <brightnesscontrast brightness="0" gamma="1" contrast="0"/>
    <huesaturation colorizeBlue="128" saturation="0" colorizeRed="255" grayscaleMode="0" colorizeStrength="100" invertColors="0" colorizeGreen="128" colorizeOn="0"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
